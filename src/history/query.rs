//! Questions asked of a whole history: summaries of ranges of steps, colour ranges,
//! and the memory it holds.

use super::folded::{BucketCell, FoldedSeries};
use super::{CellSummary, ColorRange, Extremes, RunHistory, Scalar};
use crate::train::LayerMetric;

impl RunHistory {
    /// A summary of row `layer` (0-based) over the recorded columns in `columns`: the
    /// exact steps among them and every summary bucket that starts among them, so that
    /// ranges that partition the columns partition the values. [`Self::covered`] says
    /// which columns that is.
    pub fn summarize(
        &self,
        metric: LayerMetric,
        layer: usize,
        columns: std::ops::Range<usize>,
    ) -> CellSummary {
        let Some(series) = self.layers.get(&metric) else {
            return CellSummary::empty();
        };
        self.summarize_series(series, layer, columns)
    }

    /// [`Self::summarize`] for a scalar.
    pub fn summarize_scalar(&self, scalar: Scalar, columns: std::ops::Range<usize>) -> CellSummary {
        self.summarize_series(&self.scalars[scalar as usize], 0, columns)
    }

    fn summarize_series(
        &self,
        series: &FoldedSeries,
        row: usize,
        columns: std::ops::Range<usize>,
    ) -> CellSummary {
        let exact_start = self.exact_start();
        let end = columns.end.min(self.len);
        let mut summary = CellSummary::empty();
        if columns.start < exact_start {
            let width = self.folding.bucket_steps;
            let first = columns.start.div_ceil(width);
            let last = end.min(exact_start).div_ceil(width);
            for bucket in first..last {
                summary = summary.merge(series.bucket_summary(&self.folding, bucket, row));
            }
        }
        let exact = columns.start.max(exact_start)..end.max(exact_start);
        let rows = series.rows;
        let values = exact
            .map(|c| (c - exact_start) * rows + row)
            .filter_map(|i| series.exact.get(i).copied());
        summary.merge(CellSummary::of(values))
    }

    /// The recorded column of step number `step`, if the run has recorded it.
    pub fn column_of(&self, step: u64) -> Option<usize> {
        step.checked_sub(self.step_of(0))
            .and_then(|c| usize::try_from(c).ok())
            .filter(|&c| c < self.len)
    }

    /// The columns of the summary bucket holding `column`; `None` for an exact column.
    pub fn bucket_of(&self, column: usize) -> Option<std::ops::Range<usize>> {
        let exact_start = self.exact_start();
        (column < exact_start).then(|| {
            let width = self.folding.bucket_steps;
            let start = column / width * width;
            start..(start + width).min(exact_start)
        })
    }

    /// The columns a summary of `columns` stands for: a range that starts or ends
    /// inside a summary bucket moves to the bucket's edge.
    pub fn covered(&self, columns: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let exact_start = self.exact_start();
        let width = self.folding.bucket_steps;
        let edge = |c: usize| {
            if c < exact_start {
                (c.div_ceil(width) * width).min(exact_start)
            } else {
                c
            }
        };
        let start = edge(columns.start.min(self.len));
        start..edge(columns.end.min(self.len)).max(start)
    }

    /// The colour range covering every finite value of `metric` ever recorded (every
    /// finite, non-zero magnitude on a log scale); `None` when there is none.
    pub fn value_range(&self, metric: LayerMetric) -> Option<ColorRange> {
        let extremes = self.extremes.get(&metric)?;
        let scale = metric.scale();
        let values = match scale {
            crate::train::Scale::Log => [extremes.min, extremes.max, extremes.min_magnitude],
            crate::train::Scale::Linear { .. } => [extremes.min, extremes.max, extremes.max],
        };
        ColorRange::covering(scale, values.into_iter())
    }

    /// The colour range covering every recorded value of a metric.
    pub fn color_range(&self, metric: LayerMetric) -> ColorRange {
        let scale = metric.scale();
        self.value_range(metric).unwrap_or(ColorRange::empty(scale))
    }

    /// Recomputes the colour ranges from the recorded data (after loading).
    pub(super) fn rebuild_extremes(&mut self) {
        self.extremes.clear();
        for (&metric, series) in &self.layers {
            if series.rows == 0 || (series.exact.is_empty() && series.buckets.is_empty()) {
                continue;
            }
            let mut extremes = Extremes::default();
            series.exact.iter().for_each(|&v| extremes.add(v));
            for cell in &series.buckets {
                extremes.add_summary(&cell.expand(1));
            }
            series.open.iter().for_each(|s| extremes.add_summary(s));
            self.extremes.insert(metric, extremes);
        }
    }

    /// Bytes this history holds on the heap, counted from the capacities of its
    /// buffers (the few small maps of metric names aside).
    pub fn heap_bytes(&self) -> usize {
        let series: usize = self
            .scalars
            .iter()
            .chain(self.layers.values())
            .chain(std::iter::once(&self.prelu_slope))
            .map(FoldedSeries::heap_bytes)
            .sum();
        let first: usize = self.first_values.values().map(Vec::capacity).sum();
        series + self.test_accuracy.capacity() * size_of::<(u64, f64)>() + first * size_of::<f64>()
    }

    /// The most [`Self::heap_bytes`] can reach under the history's budget, however long
    /// the run (for a history that was not loaded longer than its budget).
    pub fn heap_bytes_bound(&self) -> usize {
        let layer_rows: usize = LayerMetric::ALL.into_iter().map(|m| self.rows(m)).sum();
        let rows = layer_rows + self.num_layers.saturating_sub(1) + Scalar::ALL.len();
        let limit = self.budget.limit_steps();
        let per_row = limit * size_of::<f64>()
            + self.budget.max_buckets * size_of::<BucketCell>()
            + size_of::<CellSummary>();
        rows * per_row
            + self.max_test_entries() * size_of::<(u64, f64)>()
            + layer_rows * size_of::<f64>()
    }
}
