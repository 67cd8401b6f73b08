//! Curves of a whole run, summarised steps included, thinned to what a plot can show
//! while keeping each range's smallest and largest value.

use super::folded::FoldedSeries;
use super::{CellSummary, RunHistory, Scalar, decimate_min_max};
use crate::train::LayerMetric;

impl RunHistory {
    /// At most about `max_points` (column, value) points of a scalar over the whole run,
    /// in column order: each stretch of steps contributes its smallest and largest finite
    /// value. A point with a NaN value marks where non-finite values interrupt the curve.
    pub fn curve(&self, scalar: Scalar, max_points: usize) -> Vec<(usize, f64)> {
        self.series_curve(&self.scalars[scalar as usize], 0, max_points)
    }

    /// [`Self::curve`] for row `row` of a per-layer metric.
    pub fn layer_curve(
        &self,
        metric: LayerMetric,
        row: usize,
        max_points: usize,
    ) -> Vec<(usize, f64)> {
        match self.layers.get(&metric) {
            Some(series) if row < series.rows => self.series_curve(series, row, max_points),
            _ => Vec::new(),
        }
    }

    fn series_curve(
        &self,
        series: &FoldedSeries,
        row: usize,
        max_points: usize,
    ) -> Vec<(usize, f64)> {
        let total = self.len.max(1);
        let exact_start = self.exact_start();
        let mut points = Vec::new();

        let buckets = self.folding.num_buckets();
        if buckets > 0 {
            let share = (max_points * exact_start).div_ceil(total).max(2);
            let per_group = (2 * buckets).div_ceil(share).max(1);
            for first in (0..buckets).step_by(per_group) {
                let group = first..(first + per_group).min(buckets);
                let summary = group
                    .clone()
                    .map(|b| series.bucket_summary(&self.folding, b, row))
                    .fold(CellSummary::empty(), CellSummary::merge);
                let start = self.folding.bucket(group.start).0;
                let (last_start, last_steps) = self.folding.bucket(group.end - 1);
                let middle = (start + last_start + last_steps.max(1) - 1) / 2;
                if summary.nan_count + summary.inf_count > 0 {
                    points.push((middle, f64::NAN));
                }
                if summary.finite_count() > 0 {
                    points.push((middle, summary.min));
                    if summary.max != summary.min {
                        points.push((middle, summary.max));
                    }
                }
            }
        }

        let rows = series.rows.max(1);
        let values: Vec<f64> = series
            .exact
            .iter()
            .skip(row)
            .step_by(rows)
            .copied()
            .collect();
        let share = (max_points * values.len()).div_ceil(total).max(2);
        let exact = decimate_with_gaps(&values, share);
        points.extend(exact.into_iter().map(|(i, v)| (exact_start + i, v)));
        points
    }

    /// The first column where a scalar is not a finite number, and that value; for a
    /// summarised step, the first column of its bucket and NaN, or +∞ for an infinity.
    pub fn first_nonfinite(&self, scalar: Scalar) -> Option<(usize, f64)> {
        let series = &self.scalars[scalar as usize];
        let in_buckets = (0..self.folding.num_buckets()).find_map(|bucket| {
            let summary = series.bucket_summary(&self.folding, bucket, 0);
            let start = self.folding.bucket(bucket).0;
            if summary.nan_count > 0 {
                Some((start, f64::NAN))
            } else {
                (summary.inf_count > 0).then_some((start, f64::INFINITY))
            }
        });
        in_buckets.or_else(|| {
            let index = series.exact.iter().position(|v| !v.is_finite())?;
            Some((self.exact_start() + index, series.exact[index]))
        })
    }
}

/// At most about `max_points` (index, value) points of `values`: each run of finite
/// values shares the points by its length and keeps its extremes
/// ([`decimate_min_max`]); a point with a NaN value stands where non-finite values
/// interrupt them.
pub fn decimate_with_gaps(values: &[f64], max_points: usize) -> Vec<(usize, f64)> {
    let runs = finite_runs(values);
    let total = values.len().max(1);
    let mut points = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        if index > 0 || run.start > 0 {
            points.push((run.start.saturating_sub(1), f64::NAN));
        }
        let share = (max_points * run.len()).div_ceil(total).max(2);
        let thinned = decimate_min_max(&values[run.clone()], share);
        points.extend(thinned.into_iter().map(|(i, v)| (run.start + i, v)));
    }
    if runs
        .last()
        .map_or(!values.is_empty(), |r| r.end < values.len())
    {
        points.push((values.len() - 1, f64::NAN));
    }
    points
}

/// Splits points from [`decimate_with_gaps`] or [`RunHistory::curve`] into the stretches
/// between the gaps, each to be drawn as one line.
pub fn split_at_gaps(points: Vec<(usize, f64)>) -> Vec<Vec<(usize, f64)>> {
    let mut segments = vec![Vec::new()];
    for point in points {
        if point.1.is_nan() {
            segments.push(Vec::new());
        } else if let Some(segment) = segments.last_mut() {
            segment.push(point);
        }
    }
    segments.retain(|s| !s.is_empty());
    segments
}

/// The index ranges of the runs of finite values in `values`.
fn finite_runs(values: &[f64]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (index, value) in values.iter().enumerate() {
        match (value.is_finite(), start) {
            (true, None) => start = Some(index),
            (false, Some(first)) => {
                runs.push(first..index);
                start = None;
            }
            _ => {}
        }
    }
    runs.extend(start.map(|first| first..values.len()));
    runs
}
