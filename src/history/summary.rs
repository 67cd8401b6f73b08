//! Summaries of ranges of recorded values that keep the extremes: a heatmap cell that
//! stands for many steps still shows a NaN among them, and its tooltip the smallest
//! and largest value.

use crate::train::Scale;

/// What a range of values of one layer holds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CellSummary {
    pub count: usize,
    pub nan_count: usize,
    pub inf_count: usize,
    pub zero_count: usize,
    /// Smallest and largest finite value (NaN when there is none).
    pub min: f64,
    pub max: f64,
    /// Smallest finite, non-zero magnitude (NaN when there is none): the low end of a
    /// log scale, which `min` does not give when the range also holds a zero.
    pub min_magnitude: f64,
    /// Mean of the finite values (NaN when there is none).
    pub mean: f64,
    /// Mean of log10 over the finite, non-zero magnitudes (NaN when there is none).
    pub mean_log10: f64,
}

impl CellSummary {
    /// The summary of no value at all.
    pub fn empty() -> Self {
        Self {
            min: f64::NAN,
            max: f64::NAN,
            min_magnitude: f64::NAN,
            mean: f64::NAN,
            mean_log10: f64::NAN,
            ..Self::default()
        }
    }

    /// The summary of `values`, computed from each of them.
    pub fn of(values: impl Iterator<Item = f64>) -> Self {
        let mut summary = Self::empty();
        let (mut sum, mut finite) = (0.0, 0usize);
        let (mut log_sum, mut log_count) = (0.0, 0usize);
        for value in values {
            summary.count += 1;
            if value.is_nan() {
                summary.nan_count += 1;
                continue;
            }
            if value.is_infinite() {
                summary.inf_count += 1;
                continue;
            }
            summary.min = summary.min.min(value);
            summary.max = summary.max.max(value);
            sum += value;
            finite += 1;
            if value == 0.0 {
                summary.zero_count += 1;
            } else {
                summary.min_magnitude = summary.min_magnitude.min(value.abs());
                log_sum += value.abs().log10();
                log_count += 1;
            }
        }
        if finite > 0 {
            summary.mean = sum / finite as f64;
        }
        if log_count > 0 {
            summary.mean_log10 = log_sum / log_count as f64;
        }
        summary
    }

    /// Values that are finite, neither NaN nor infinite.
    pub fn finite_count(&self) -> usize {
        self.count - self.nan_count - self.inf_count
    }

    /// Values that count towards `mean_log10`: finite and not zero.
    pub fn log_count(&self) -> usize {
        self.finite_count() - self.zero_count
    }

    /// The summary of the values of both `self` and `other`, as if summarised together:
    /// counts, extremes and non-finite values exactly; the means weighted by the values
    /// they stand for, to f64 rounding.
    pub fn merge(self, other: Self) -> Self {
        if other.count == 0 {
            return self;
        }
        if self.count == 0 {
            return other;
        }
        Self {
            count: self.count + other.count,
            nan_count: self.nan_count + other.nan_count,
            inf_count: self.inf_count + other.inf_count,
            zero_count: self.zero_count + other.zero_count,
            // `f64::min` and `max` pass over a NaN, which here means "no finite value".
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            min_magnitude: self.min_magnitude.min(other.min_magnitude),
            mean: weighted_mean(
                (self.mean, self.finite_count()),
                (other.mean, other.finite_count()),
            ),
            mean_log10: weighted_mean(
                (self.mean_log10, self.log_count()),
                (other.mean_log10, other.log_count()),
            ),
        }
    }

    /// Adds one value (the same as merging the summary of that value alone).
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        if value.is_nan() {
            self.nan_count += 1;
            return;
        }
        if value.is_infinite() {
            self.inf_count += 1;
            return;
        }
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.mean = weighted_mean((self.mean, self.finite_count() - 1), (value, 1));
        if value == 0.0 {
            self.zero_count += 1;
        } else {
            self.min_magnitude = self.min_magnitude.min(value.abs());
            let logs = self.log_count();
            self.mean_log10 = weighted_mean((self.mean_log10, logs - 1), (value.abs().log10(), 1));
        }
    }

    /// The values a colour scale must cover so that it covers every finite value here,
    /// as [`ColorRange::covering`] takes them.
    pub fn scale_extremes(&self, scale: Scale) -> [f64; 3] {
        match scale {
            Scale::Log => [self.min, self.max, self.min_magnitude],
            Scale::Linear { .. } => [self.min, self.max, self.max],
        }
    }

    /// The value a colour is chosen for on `scale`. Non-finite values win over finite
    /// ones so that a divergence is never averaged away; on a log scale a range of
    /// exact zeros is zero, and other ranges are coloured by their mean of log10.
    pub fn display(&self, scale: Scale) -> DisplayValue {
        if self.count == 0 {
            DisplayValue::Missing
        } else if self.nan_count > 0 {
            DisplayValue::Nan
        } else if self.inf_count > 0 {
            DisplayValue::Inf
        } else {
            match scale {
                Scale::Log if self.mean_log10.is_nan() => DisplayValue::Zero,
                Scale::Log => DisplayValue::Value(self.mean_log10),
                Scale::Linear { .. } => DisplayValue::Value(self.mean),
            }
        }
    }
}

/// The mean of two groups of values from each group's mean and size: NaN for no value
/// at all. Each share is below one, so that no product overflows.
fn weighted_mean((a, a_count): (f64, usize), (b, b_count): (f64, usize)) -> f64 {
    match (a_count, b_count) {
        (0, _) => b,
        (_, 0) => a,
        _ => {
            let total = (a_count + b_count) as f64;
            a * (a_count as f64 / total) + b * (b_count as f64 / total)
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
    /// An exact zero on a log scale.
    Zero,
    /// A value on the scale: log10 of the magnitude, or the value itself.
    Value(f64),
}

/// A colour scale: whole decades 10^low to 10^high on a log scale, or low to high.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorRange {
    pub scale: Scale,
    pub low: f64,
    pub high: f64,
}

impl ColorRange {
    /// The range used before any value is known.
    pub fn empty(scale: Scale) -> Self {
        match scale {
            Scale::Log => Self {
                scale,
                low: -1.0,
                high: 0.0,
            },
            Scale::Linear {
                fixed: Some((low, high)),
            } => Self {
                scale,
                low: f64::from(low),
                high: f64::from(high),
            },
            Scale::Linear { fixed: None } => Self {
                scale,
                low: 0.0,
                high: 1.0,
            },
        }
    }

    /// The smallest range covering every finite value (every finite, non-zero magnitude
    /// on a log scale), in whole decades or tenths so that it changes rarely; `None`
    /// when there is no such value.
    pub fn covering(scale: Scale, values: impl Iterator<Item = f64>) -> Option<Self> {
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            let v = match scale {
                Scale::Log if v == 0.0 => continue,
                Scale::Log => v.abs().log10(),
                Scale::Linear { .. } => v,
            };
            low = low.min(v);
            high = high.max(v);
        }
        if low > high {
            return None;
        }
        Some(match scale {
            Scale::Log => Self {
                scale,
                low: low.floor(),
                high: high.ceil().max(low.floor() + 1.0),
            },
            Scale::Linear { fixed: Some(_) } => Self::empty(scale),
            Scale::Linear { fixed: None } => {
                // Rounded out to tenths where that cannot overflow.
                let round = |v: f64, f: fn(f64) -> f64| {
                    let rounded = f(v * 10.0) / 10.0;
                    if rounded.is_finite() { rounded } else { v }
                };
                let low = round(low, f64::floor);
                let high = round(high, f64::ceil).max(low + 0.1);
                Self { scale, low, high }
            }
        })
    }

    /// The union of two ranges of the same scale.
    pub fn union(self, other: Self) -> Self {
        Self {
            scale: self.scale,
            low: self.low.min(other.low),
            high: self.high.max(other.high),
        }
    }

    /// Where a value on the scale falls, clamped to [0, 1].
    pub fn position(&self, value: f64) -> f64 {
        ((value - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
    }

    /// Labelled ticks, at most about `max_ticks` of them: (value on the scale, label).
    pub fn ticks(&self, max_ticks: usize) -> Vec<(f64, String)> {
        match self.scale {
            Scale::Log => {
                // Every k-th decade, k chosen so that the labels fit, on decades that are
                // multiples of k (1e-6, 1e-4, … rather than 1e-7, 1e-5, …).
                let decades = (self.high - self.low).round().max(1.0) as i64;
                let every = (decades as usize).div_ceil(max_ticks.max(1)).max(1) as i64;
                let (low, high) = (self.low.round() as i64, self.high.round() as i64);
                (low..=high)
                    .filter(|d| d.rem_euclid(every) == 0)
                    .map(|d| (d as f64, format!("1e{d}")))
                    .collect()
            }
            Scale::Linear { .. } => {
                let span = self.high - self.low;
                if !span.is_finite() || span <= 0.0 {
                    // Ranges near f64's limits: just the ends.
                    return [self.low, self.high]
                        .into_iter()
                        .filter(|v| v.is_finite())
                        .map(|v| (v, format!("{v:.3e}")))
                        .collect();
                }
                let step = nice_step(span / max_ticks.clamp(2, 8) as f64);
                let decimals = (-step.log10().floor()).max(0.0) as usize;
                let first = (self.low / step).ceil() as i64;
                let last = (self.high / step).floor() as i64;
                (first..=last)
                    .map(|i| {
                        let value = i as f64 * step;
                        // `+ 0.0` keeps −0 from being printed as "-0.00".
                        (value, format!("{:.decimals$}", value + 0.0))
                    })
                    .collect()
            }
        }
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `raw` (1 for a
/// `raw` that is not a positive number): the spacing of readable ticks.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&step| step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
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
        assert_eq!(s.min, 0.0);
        assert_eq!(s.max, 1e-1);
        assert!((s.mean_log10 - (-3.0)).abs() < 1e-12);
        assert!((s.mean - (1e-3 + 1e-1 + 1e-5) / 4.0).abs() < 1e-15);
        assert_eq!(s.zero_count, 1);
        assert_eq!(s.display(Scale::Log), DisplayValue::Value(s.mean_log10));
        assert_eq!(
            s.display(Scale::Linear { fixed: None }),
            DisplayValue::Value(s.mean)
        );

        let with_nan = CellSummary::of([1.0, f64::NAN, f64::INFINITY].into_iter());
        assert_eq!(with_nan.display(Scale::Log), DisplayValue::Nan);
        let with_inf = CellSummary::of([1.0, f64::INFINITY].into_iter());
        assert_eq!(with_inf.display(Scale::Log), DisplayValue::Inf);
        assert_eq!(
            CellSummary::of([0.0].into_iter()).display(Scale::Log),
            DisplayValue::Zero
        );
        let linear_zero = CellSummary::of([0.0].into_iter()).display(Scale::Linear { fixed: None });
        assert_eq!(linear_zero, DisplayValue::Value(0.0));
        assert_eq!(
            CellSummary::of(std::iter::empty()).display(Scale::Log),
            DisplayValue::Missing
        );
    }

    #[test]
    fn log_range_covers_whole_decades() {
        let range = ColorRange::covering(Scale::Log, [3e-7, 0.2, 0.0, f64::NAN].into_iter())
            .expect("has values");
        assert_eq!((range.low, range.high), (-7.0, 0.0));
        let single = ColorRange::covering(Scale::Log, [1.0].into_iter()).expect("has a value");
        assert_eq!((single.low, single.high), (0.0, 1.0));
        assert_eq!(
            ColorRange::covering(Scale::Log, [0.0, f64::NAN].into_iter()),
            None
        );
        let labels: Vec<String> = range.ticks(4).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["1e-6", "1e-4", "1e-2", "1e0"]);
    }

    #[test]
    fn linear_ranges_round_to_tenths_or_stay_fixed() {
        let free = Scale::Linear { fixed: None };
        let range = ColorRange::covering(free, [-0.23, 0.41].into_iter()).expect("has values");
        assert!((range.low + 0.3).abs() < 1e-12 && (range.high - 0.5).abs() < 1e-12);
        let fixed = Scale::Linear {
            fixed: Some((0, 1)),
        };
        let free_ticks: Vec<String> = range.ticks(5).into_iter().map(|t| t.1).collect();
        // Values at f64's limits keep a finite range and a handful of ticks.
        let extreme = ColorRange::covering(free, [-1.7e308, 1.7e308].into_iter()).expect("values");
        assert!(extreme.low.is_finite() && extreme.high.is_finite());
        assert!(extreme.ticks(5).len() <= 9);
        assert_eq!(free_ticks, ["-0.2", "0.0", "0.2", "0.4"]);
        let range = ColorRange::covering(fixed, [0.2, 0.3].into_iter()).expect("has values");
        assert_eq!((range.low, range.high), (0.0, 1.0));
        assert!((range.position(0.25) - 0.25).abs() < 1e-12);
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
