//! Summaries of ranges of recorded values that keep the extremes: a heatmap cell that
//! stands for many steps still shows a NaN among them, and its tooltip the smallest
//! and largest value.

/// What a range of values of one layer holds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CellSummary {
    pub count: usize,
    pub nan_count: usize,
    pub inf_count: usize,
    pub zero_count: usize,
    /// Smallest and largest finite, non-zero magnitude (NaN when there is none).
    pub min: f64,
    pub max: f64,
    /// Mean of log10 over the finite, non-zero magnitudes (NaN when there is none).
    pub mean_log10: f64,
}

impl CellSummary {
    pub fn of(values: impl Iterator<Item = f64>) -> Self {
        let mut summary = Self {
            min: f64::NAN,
            max: f64::NAN,
            mean_log10: f64::NAN,
            ..Self::default()
        };
        let mut log_sum = 0.0;
        let mut log_count = 0usize;
        for value in values {
            summary.count += 1;
            if value.is_nan() {
                summary.nan_count += 1;
            } else if value.is_infinite() {
                summary.inf_count += 1;
            } else if value == 0.0 {
                summary.zero_count += 1;
            } else {
                let magnitude = value.abs();
                summary.min = summary.min.min(magnitude);
                summary.max = summary.max.max(magnitude);
                log_sum += magnitude.log10();
                log_count += 1;
            }
        }
        if log_count > 0 {
            summary.mean_log10 = log_sum / log_count as f64;
        }
        summary
    }

    /// The value a colour is chosen for. Non-finite values win over finite ones so
    /// that a divergence is never averaged away; a range of exact zeros is zero.
    pub fn display(&self) -> DisplayValue {
        if self.count == 0 {
            DisplayValue::Missing
        } else if self.nan_count > 0 {
            DisplayValue::Nan
        } else if self.inf_count > 0 {
            DisplayValue::Inf
        } else if self.mean_log10.is_nan() {
            DisplayValue::Zero
        } else {
            DisplayValue::Log10(self.mean_log10)
        }
    }
}

/// The colour class of a heatmap cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DisplayValue {
    /// No step recorded there yet.
    Missing,
    Nan,
    Inf,
    Zero,
    Log10(f64),
}

/// A colour scale in whole decades: 10^min_decade to 10^max_decade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRange {
    pub min_decade: i32,
    pub max_decade: i32,
}

impl LogRange {
    /// The smallest whole-decade range covering every finite, non-zero magnitude.
    pub fn covering(values: impl Iterator<Item = f64>) -> Option<Self> {
        let mut low = f64::INFINITY;
        let mut high = f64::NEG_INFINITY;
        for v in values.map(f64::abs).filter(|v| v.is_finite() && *v > 0.0) {
            low = low.min(v);
            high = high.max(v);
        }
        if low > high {
            return None;
        }
        Some(Self::from_log10(low.log10(), high.log10()))
    }

    fn from_log10(low: f64, high: f64) -> Self {
        let min_decade = low.floor() as i32;
        let max_decade = (high.ceil() as i32).max(min_decade + 1);
        Self {
            min_decade,
            max_decade,
        }
    }

    /// The union of two ranges.
    pub fn union(self, other: Self) -> Self {
        Self {
            min_decade: self.min_decade.min(other.min_decade),
            max_decade: self.max_decade.max(other.max_decade),
        }
    }

    /// Where `log10` falls on the scale, clamped to [0, 1].
    pub fn position(&self, log10: f64) -> f64 {
        let span = f64::from(self.max_decade - self.min_decade);
        ((log10 - f64::from(self.min_decade)) / span).clamp(0.0, 1.0)
    }
}

/// Thins a long series for plotting while keeping its shape: each of at most
/// `max_points / 2` buckets contributes its minimum and its maximum, in step order.
/// NaN and infinite values are skipped (the heatmap and the status line report them).
/// Returns (index, value) pairs.
pub fn decimate_min_max(values: &[f64], max_points: usize) -> Vec<(usize, f64)> {
    let finite = |&(_, v): &(usize, f64)| v.is_finite();
    if values.len() <= max_points.max(2) {
        return values.iter().copied().enumerate().filter(finite).collect();
    }
    let num_buckets = (max_points / 2).max(1);
    let bucket_len = values.len().div_ceil(num_buckets);
    let mut points = Vec::with_capacity(num_buckets * 2);
    for (bucket, chunk) in values.chunks(bucket_len).enumerate() {
        let offset = bucket * bucket_len;
        let mut low: Option<(usize, f64)> = None;
        let mut high: Option<(usize, f64)> = None;
        for point in chunk.iter().copied().enumerate().filter(finite) {
            if low.is_none_or(|(_, v)| point.1 < v) {
                low = Some(point);
            }
            if high.is_none_or(|(_, v)| point.1 > v) {
                high = Some(point);
            }
        }
        if let (Some(low), Some(high)) = (low, high) {
            let (first, second) = if low.0 <= high.0 {
                (low, high)
            } else {
                (high, low)
            };
            points.push((offset + first.0, first.1));
            if second.0 != first.0 {
                points.push((offset + second.0, second.1));
            }
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_keeps_extremes_and_nonfinite_values() {
        let s = CellSummary::of([1e-3, 1e-1, 0.0, 1e-5].into_iter());
        assert_eq!(s.min, 1e-5);
        assert_eq!(s.max, 1e-1);
        assert!((s.mean_log10 - (-3.0)).abs() < 1e-12);
        assert_eq!(s.zero_count, 1);
        assert_eq!(s.display(), DisplayValue::Log10(s.mean_log10));

        let with_nan = CellSummary::of([1.0, f64::NAN, f64::INFINITY].into_iter());
        assert_eq!(with_nan.display(), DisplayValue::Nan);
        let with_inf = CellSummary::of([1.0, f64::INFINITY].into_iter());
        assert_eq!(with_inf.display(), DisplayValue::Inf);
        assert_eq!(
            CellSummary::of([0.0].into_iter()).display(),
            DisplayValue::Zero
        );
        assert_eq!(
            CellSummary::of(std::iter::empty()).display(),
            DisplayValue::Missing
        );
    }

    #[test]
    fn log_range_covers_whole_decades() {
        let range = LogRange::covering([3e-7, 0.2, 0.0, f64::NAN].into_iter());
        assert_eq!(
            range,
            Some(LogRange {
                min_decade: -7,
                max_decade: 0
            })
        );
        let single = LogRange::covering([1.0].into_iter());
        assert_eq!(
            single,
            Some(LogRange {
                min_decade: 0,
                max_decade: 1
            })
        );
        assert_eq!(LogRange::covering([0.0, f64::NAN].into_iter()), None);
    }

    #[test]
    fn decimation_keeps_every_extreme_in_order() {
        let mut values: Vec<f64> = (0..10_000).map(|i| f64::from(i % 100)).collect();
        values[5_123] = 1e6;
        values[7_777] = -1e6;
        values[100] = f64::NAN;
        let points = decimate_min_max(&values, 200);
        assert!(points.len() <= 200);
        assert!(points.contains(&(5_123, 1e6)));
        assert!(points.contains(&(7_777, -1e6)));
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(points.iter().all(|p| p.1.is_finite()));
    }
}
