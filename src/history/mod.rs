//! Recorded metrics of one run, and the NaN-aware summaries that plots and heatmaps
//! draw from.
//!
//! A run keeps its newest steps exactly and folds older ones into summary buckets once
//! it outgrows its [`HistoryBudget`], so that its memory has a bound that does not
//! grow with its length; every summary keeps its range's extremes and non-finite
//! values.

mod curve;
mod file;
mod folded;
mod query;
mod range;
mod summary;
#[cfg(test)]
mod tests;

pub use curve::{decimate_with_gaps, split_at_gaps};
pub use range::{RangeTracker, shared_color_range};
pub use summary::{CellSummary, ColorRange, DisplayValue, decimate_min_max, nice_step};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::train::{LayerMetric, StepRecord};
use folded::{FoldedSeries, Folding};

/// Values that keep NaN and infinities through JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Series(#[serde(with = "crate::session::nonfinite")] pub Vec<f64>);

/// The per-step numbers of a run that have one value a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    Loss,
    Accuracy,
    Lr,
    GradNormTotal,
    GradNormClipped,
}

impl Scalar {
    pub const ALL: [Self; 5] = [
        Self::Loss,
        Self::Accuracy,
        Self::Lr,
        Self::GradNormTotal,
        Self::GradNormClipped,
    ];

    /// The name in session files and `metrics.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loss => "loss",
            Self::Accuracy => "accuracy",
            Self::Lr => "lr",
            Self::GradNormTotal => "grad_norm_total",
            Self::GradNormClipped => "grad_norm_clipped",
        }
    }

    fn of(self, record: &StepRecord) -> f64 {
        match self {
            Self::Loss => record.loss,
            Self::Accuracy => record.accuracy,
            Self::Lr => record.lr,
            Self::GradNormTotal => record.grad_norm_total,
            Self::GradNormClipped => record.grad_norm_clipped,
        }
    }
}

/// How much of a run is kept exactly, and how finely the rest is summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryBudget {
    /// The newest steps always kept exactly; a run never longer than this (plus one
    /// fold's worth, [`Self::fold_steps`]) is kept whole.
    pub exact_steps: usize,
    /// The most summary buckets of older steps; when they are all full, neighbours are
    /// merged pairwise. A power of two.
    pub max_buckets: usize,
}

impl HistoryBudget {
    /// Exact values (8 bytes each) a run keeps before it starts to fold: 64 MiB.
    pub const EXACT_VALUES: usize = 1 << 23;
    /// Summary buckets: as many as the heatmap texture has columns.
    pub const MAX_BUCKETS: usize = 2048;
    /// Bounds on the exact steps, whatever the width of a step.
    pub const MIN_EXACT_STEPS: usize = 1024;
    pub const MAX_EXACT_STEPS: usize = 1 << 16;

    /// The budget of a run that records `values_per_step` values a step.
    pub fn for_values_per_step(values_per_step: usize) -> Self {
        let exact_steps = (Self::EXACT_VALUES / values_per_step.max(1))
            .clamp(Self::MIN_EXACT_STEPS, Self::MAX_EXACT_STEPS);
        Self {
            exact_steps,
            max_buckets: Self::MAX_BUCKETS,
        }
    }

    /// A budget of at least one exact step and two buckets, the buckets a power of two.
    pub fn new(exact_steps: usize, max_buckets: usize) -> Self {
        Self {
            exact_steps: exact_steps.max(1),
            max_buckets: max_buckets.max(2).next_power_of_two(),
        }
    }

    /// Steps folded at a time, so that the exact steps are not shifted at every step.
    pub fn fold_steps(&self) -> usize {
        (self.exact_steps / 8).max(1)
    }

    /// The most exact steps held at once.
    pub fn limit_steps(&self) -> usize {
        self.exact_steps + self.fold_steps()
    }
}

/// The smallest and largest finite values of a metric, and its smallest non-zero
/// magnitude, over the whole run: its colour range, kept up to date as steps arrive.
#[derive(Clone, Copy, Debug)]
struct Extremes {
    min: f64,
    max: f64,
    min_magnitude: f64,
}

impl Default for Extremes {
    fn default() -> Self {
        Self {
            min: f64::NAN,
            max: f64::NAN,
            min_magnitude: f64::NAN,
        }
    }
}

impl Extremes {
    fn add(&mut self, value: f64) {
        if value.is_finite() {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
            if value != 0.0 {
                self.min_magnitude = self.min_magnitude.min(value.abs());
            }
        }
    }

    fn add_summary(&mut self, summary: &CellSummary) {
        for value in [summary.min, summary.max, summary.min_magnitude] {
            if value.is_finite() {
                self.min = self.min.min(value);
                self.max = self.max.max(value);
            }
        }
        self.min_magnitude = self.min_magnitude.min(summary.min_magnitude);
    }
}

/// Every step of a run, kept column by column: one value per row per step, the newest
/// steps exactly and older ones, past the budget, as summaries of power-of-two ranges
/// of steps. The rows of most metrics are the layers; recurrent nets also record
/// metrics over time steps, gates and weight matrices, whose row counts are kept in
/// `rows`. A column is a step counted from the first recorded one.
#[derive(Clone, Debug, Default)]
pub struct RunHistory {
    num_layers: usize,
    /// Row counts of the metrics that do not have one row per layer (all metrics of an
    /// MLP do, so its sessions carry no such entries).
    rows: BTreeMap<LayerMetric, usize>,
    /// The loss of knowing nothing (a uniform guess, or the mean for regression).
    baseline_loss: Option<f64>,
    /// The step number of the first recorded step (1 for a run recorded from its start).
    first_step: u64,
    /// Recorded steps, summarised and exact.
    len: usize,
    folding: Folding,
    budget: HistoryBudget,
    /// Loss, accuracy, learning rate and the global gradient norms, in `Scalar` order
    /// (boxed, so that a history moved through a channel stays small).
    scalars: Box<[FoldedSeries; 5]>,
    /// (step, accuracy) each time the test set was measured; thinned among the
    /// summarised steps so that it stays bounded too.
    test_accuracy: Vec<(u64, f64)>,
    layers: BTreeMap<LayerMetric, FoldedSeries>,
    /// PReLU slopes over the hidden layers; empty for other activations.
    prelu_slope: FoldedSeries,
    /// The first recorded step's per-layer values, kept exactly once that step is
    /// summarised (the profile at initialisation, which the theory line is drawn
    /// against); empty while the first step is exact.
    first_values: BTreeMap<LayerMetric, Vec<f64>>,
    /// Per metric, for its colour range; derived from the rest, never saved.
    extremes: BTreeMap<LayerMetric, Extremes>,
}

impl Default for HistoryBudget {
    fn default() -> Self {
        Self::for_values_per_step(1)
    }
}

impl PartialEq for RunHistory {
    /// Equal recorded data; the budget and the derived colour ranges are not compared.
    fn eq(&self, other: &Self) -> bool {
        self.num_layers == other.num_layers
            && self.rows == other.rows
            && self.baseline_loss == other.baseline_loss
            && self.first_step == other.first_step
            && self.len == other.len
            && self.folding == other.folding
            && self.scalars == other.scalars
            && self.test_accuracy == other.test_accuracy
            && self.layers == other.layers
            && self.prelu_slope == other.prelu_slope
            && self.first_values == other.first_values
    }
}

impl RunHistory {
    /// The history of an MLP of `num_layers` layers (hidden plus output).
    pub fn new(num_layers: usize) -> Self {
        Self::with_rows(num_layers, &BTreeMap::new())
    }

    /// A history whose metrics have `num_layers` rows, or the count in `rows`; the
    /// recurrent-only metrics have none unless `rows` gives them some.
    pub fn with_rows(num_layers: usize, rows: &BTreeMap<LayerMetric, usize>) -> Self {
        let mut history = Self {
            num_layers,
            first_step: 1,
            ..Self::default()
        };
        for (&metric, &count) in rows {
            if count != history.default_rows(metric) {
                history.rows.insert(metric, count);
            }
        }
        history.layers = LayerMetric::ALL
            .into_iter()
            .map(|m| (m, FoldedSeries::new(history.rows(m))))
            .collect();
        history.reset_layout();
        history
    }

    /// Sets the row counts of the scalar and PReLU series and the budget from the rows
    /// of the metrics.
    fn reset_layout(&mut self) {
        for series in self.scalars.iter_mut() {
            series.rows = 1;
        }
        self.prelu_slope.rows = self.num_layers.saturating_sub(1);
        self.budget = HistoryBudget::for_values_per_step(self.values_per_step());
    }

    /// Values recorded a step at most: every metric's rows, PReLU slopes, scalars.
    fn values_per_step(&self) -> usize {
        let layers: usize = LayerMetric::ALL.into_iter().map(|m| self.rows(m)).sum();
        layers + self.num_layers.saturating_sub(1) + Scalar::ALL.len()
    }

    /// Keeps `budget` from now on instead of the one chosen for the run's size (tests and
    /// benchmarks use small ones to fold early).
    pub fn with_budget(mut self, budget: HistoryBudget) -> Self {
        self.budget = budget;
        self
    }

    pub fn budget(&self) -> HistoryBudget {
        self.budget
    }

    /// Records the loss of knowing nothing, for the loss plot's reference line.
    pub fn set_baseline_loss(&mut self, loss: Option<f64>) {
        self.baseline_loss = loss.filter(|l| l.is_finite());
    }

    pub fn baseline_loss(&self) -> Option<f64> {
        self.baseline_loss
    }

    fn default_rows(&self, metric: LayerMetric) -> usize {
        if metric.is_recurrent_only() {
            0
        } else {
            self.num_layers
        }
    }

    /// Rows of `metric` in each step: layers, time steps, gates or weight matrices.
    /// Zero for a metric this run does not record.
    pub fn rows(&self, metric: LayerMetric) -> usize {
        self.rows
            .get(&metric)
            .copied()
            .unwrap_or_else(|| self.default_rows(metric))
    }

    /// The metrics this run records, in menu order.
    pub fn metrics(&self) -> Vec<LayerMetric> {
        LayerMetric::ALL
            .into_iter()
            .filter(|&m| self.rows(m) > 0)
            .collect()
    }

    /// True for a recurrent net's history.
    pub fn is_recurrent(&self) -> bool {
        self.rows(LayerMetric::HiddenGradNorm) > 0
    }

    /// Appends one step, folding the oldest exact steps into summaries when the budget
    /// is full. A record whose row counts disagree is refused.
    pub fn push(&mut self, record: &StepRecord) -> bool {
        let fits = LayerMetric::ALL
            .into_iter()
            .all(|m| record.layer_values(m).len() == self.rows(m));
        if !fits {
            return false;
        }
        if self.len == 0 {
            self.first_step = record.step;
        }
        let limit = self.budget.limit_steps();
        for scalar in Scalar::ALL {
            self.scalars[scalar as usize].push(&[scalar.of(record)], limit);
        }
        if let Some(test) = record.test_accuracy {
            let limit = self.max_test_entries();
            folded::reserve_within(&mut self.test_accuracy, 1, limit);
            self.test_accuracy.push((record.step, test));
        }
        for metric in LayerMetric::ALL {
            let values = record.layer_values(metric);
            let rows = self.rows(metric);
            self.layers
                .entry(metric)
                .or_insert_with(|| FoldedSeries::new(rows))
                .push(values, limit);
            if !values.is_empty() {
                let extremes = self.extremes.entry(metric).or_default();
                values.iter().for_each(|&v| extremes.add(v));
            }
        }
        if !record.prelu_slope.is_empty() {
            self.prelu_slope.push(&record.prelu_slope, limit);
        }
        self.len += 1;

        let exact = self.len - self.exact_start();
        if exact >= limit {
            self.fold(exact - self.budget.exact_steps);
        }
        true
    }

    /// Test accuracies kept at most: one a bucket among the summarised steps, and one a
    /// step among the exact ones.
    fn max_test_entries(&self) -> usize {
        self.budget.max_buckets + self.budget.limit_steps()
    }

    fn all_series_mut(&mut self) -> impl Iterator<Item = &mut FoldedSeries> {
        self.scalars
            .iter_mut()
            .chain(self.layers.values_mut())
            .chain(std::iter::once(&mut self.prelu_slope))
    }

    /// Folds the oldest `steps` exact steps into the buckets.
    fn fold(&mut self, steps: usize) {
        if self.exact_start() == 0 && steps > 0 {
            self.first_values = self
                .layers
                .iter()
                .map(|(&metric, series)| (metric, series.exact_step(0).to_vec()))
                .filter(|(_, values)| !values.is_empty())
                .collect();
        }
        let max_buckets = self.budget.max_buckets;
        for step in 0..steps {
            self.all_series_mut().for_each(|s| s.fold_step(step));
            self.folding.open_steps += 1;
            if self.folding.open_steps < self.folding.bucket_steps {
                continue;
            }
            self.all_series_mut()
                .for_each(|s| s.close_bucket(max_buckets));
            self.folding.full_buckets += 1;
            self.folding.open_steps = 0;
            if self.folding.full_buckets >= max_buckets
                && self.folding.full_buckets.is_multiple_of(2)
            {
                let bucket_steps = self.folding.bucket_steps;
                self.all_series_mut()
                    .for_each(|s| s.merge_pairs(bucket_steps));
                self.folding.full_buckets /= 2;
                self.folding.bucket_steps *= 2;
            }
        }
        let limit = self.budget.limit_steps();
        self.all_series_mut()
            .for_each(|s| s.drain_exact(steps, limit));
        self.thin_test_accuracy();
    }

    /// Keeps at most `max_buckets` test accuracies among the summarised steps, dropping
    /// every other one of those when there are more.
    fn thin_test_accuracy(&mut self) {
        let first_exact = self.step_of(self.exact_start());
        let old = self
            .test_accuracy
            .iter()
            .take_while(|&&(step, _)| step < first_exact)
            .count();
        if old > self.budget.max_buckets {
            let mut index = 0;
            self.test_accuracy.retain(|_| {
                index += 1;
                index > old || index % 2 == 1
            });
        }
    }

    pub fn num_layers(&self) -> usize {
        self.num_layers
    }

    /// Number of recorded steps, summarised and exact.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first column kept exactly; the columns before it are summarised.
    pub fn exact_start(&self) -> usize {
        self.folding.summarised_steps()
    }

    /// True once older steps have been folded into summaries.
    pub fn is_summarised(&self) -> bool {
        self.exact_start() > 0
    }

    /// Steps a summary bucket holds (1 before any step is summarised).
    pub fn bucket_steps(&self) -> usize {
        self.folding.bucket_steps
    }

    /// The step number of recorded column `column`.
    pub fn step_of(&self, column: usize) -> u64 {
        self.first_step + column as u64
    }

    /// The last recorded step number, 0 before any.
    pub fn last_step(&self) -> u64 {
        if self.is_empty() {
            0
        } else {
            self.step_of(self.len() - 1)
        }
    }

    /// The exact values of a scalar, from column [`Self::exact_start`] on.
    pub fn scalar(&self, scalar: Scalar) -> &[f64] {
        &self.scalars[scalar as usize].exact
    }

    /// The value of a scalar at column `column`; `None` where it is summarised or
    /// not recorded.
    pub fn scalar_at(&self, scalar: Scalar, column: usize) -> Option<f64> {
        let index = column.checked_sub(self.exact_start())?;
        self.scalar(scalar).get(index).copied()
    }

    /// The exact losses, from column [`Self::exact_start`] on (the same for the other
    /// scalars below).
    pub fn loss(&self) -> &[f64] {
        self.scalar(Scalar::Loss)
    }

    pub fn accuracy(&self) -> &[f64] {
        self.scalar(Scalar::Accuracy)
    }

    /// The learning rate of each exact step.
    pub fn lr(&self) -> &[f64] {
        self.scalar(Scalar::Lr)
    }

    /// Global gradient norm of each exact step before clipping.
    pub fn grad_norm_total(&self) -> &[f64] {
        self.scalar(Scalar::GradNormTotal)
    }

    /// Global gradient norm of each exact step after clipping.
    pub fn grad_norm_clipped(&self) -> &[f64] {
        self.scalar(Scalar::GradNormClipped)
    }

    /// The PReLU slopes of the hidden layers after recorded column `column` (empty
    /// for other activations and for summarised columns).
    pub fn prelu_slopes(&self, column: usize) -> &[f64] {
        column
            .checked_sub(self.exact_start())
            .map_or(&[], |index| self.prelu_slope.exact_step(index))
    }

    pub fn test_accuracy(&self) -> &[(u64, f64)] {
        &self.test_accuracy
    }

    /// The exact values of a per-layer metric, step-major, from column
    /// [`Self::exact_start`] on.
    pub fn exact_series(&self, metric: LayerMetric) -> &[f64] {
        self.layers.get(&metric).map_or(&[], |s| &s.exact)
    }

    /// The values of every row at the first recorded step, input side first, whether or
    /// not that step is summarised since.
    pub fn first_layer_values(&self, metric: LayerMetric) -> &[f64] {
        if self.exact_start() == 0 {
            self.layer_values(metric, 0)
        } else {
            self.first_values.get(&metric).map_or(&[], Vec::as_slice)
        }
    }

    /// Whether the first step's values are kept apart from the summaries (a session
    /// holding them needs the format that has them).
    pub fn keeps_first_step(&self) -> bool {
        !self.first_values.is_empty()
    }

    /// The values of every row at recorded column `column`, input side first; empty
    /// where the column is summarised.
    pub fn layer_values(&self, metric: LayerMetric, column: usize) -> &[f64] {
        match (
            self.layers.get(&metric),
            column.checked_sub(self.exact_start()),
        ) {
            (Some(series), Some(index)) => series.exact_step(index),
            _ => &[],
        }
    }
}
