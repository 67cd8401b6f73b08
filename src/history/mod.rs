//! Recorded metrics of one run, and the NaN-aware summaries that plots and heatmaps
//! draw from.

mod range;
mod summary;

pub use range::{RangeTracker, shared_color_range};
pub use summary::{CellSummary, ColorRange, DisplayValue, decimate_min_max, nice_step};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::train::{LayerMetric, StepRecord};

/// Values that keep NaN and infinities through JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Series(#[serde(with = "crate::session::nonfinite")] pub Vec<f64>);

/// Every step of a run, kept column by column: one value per row per step. The rows
/// of most metrics are the layers; recurrent nets also record metrics over time steps,
/// gates and weight matrices, whose row counts are kept in `rows`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunHistory {
    num_layers: usize,
    /// Row counts of the metrics that do not have one row per layer (all metrics of an
    /// MLP do, so its sessions carry no such entries).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    rows: BTreeMap<LayerMetric, usize>,
    /// The loss of knowing nothing (a uniform guess, or the mean for regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    baseline_loss: Option<f64>,
    /// The step number of the first recorded step (1 for a run recorded from its start).
    first_step: u64,
    loss: Series,
    accuracy: Series,
    lr: Series,
    grad_norm_total: Series,
    grad_norm_clipped: Series,
    /// (step, accuracy) each time the test set was measured.
    test_accuracy: Vec<(u64, f64)>,
    /// Per-layer metrics, step-major: the values of step i are
    /// `[i·num_layers, (i+1)·num_layers)`.
    layers: BTreeMap<LayerMetric, Series>,
    /// PReLU slopes, step-major over the hidden layers; empty for other activations.
    #[serde(default)]
    prelu_slope: Series,
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
            layers: LayerMetric::ALL
                .into_iter()
                .map(|m| (m, Series::default()))
                .collect(),
            ..Self::default()
        };
        for (&metric, &count) in rows {
            if count != history.default_rows(metric) {
                history.rows.insert(metric, count);
            }
        }
        history
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

    /// Appends one step. A record whose row counts disagree is refused.
    pub fn push(&mut self, record: &StepRecord) -> bool {
        let fits = LayerMetric::ALL
            .into_iter()
            .all(|m| record.layer_values(m).len() == self.rows(m));
        if !fits {
            return false;
        }
        if self.loss.0.is_empty() {
            self.first_step = record.step;
        }
        self.loss.0.push(record.loss);
        self.accuracy.0.push(record.accuracy);
        self.lr.0.push(record.lr);
        self.grad_norm_total.0.push(record.grad_norm_total);
        self.grad_norm_clipped.0.push(record.grad_norm_clipped);
        if let Some(test) = record.test_accuracy {
            self.test_accuracy.push((record.step, test));
        }
        for metric in LayerMetric::ALL {
            self.layers
                .entry(metric)
                .or_default()
                .0
                .extend_from_slice(record.layer_values(metric));
        }
        self.prelu_slope.0.extend_from_slice(&record.prelu_slope);
        true
    }

    pub fn num_layers(&self) -> usize {
        self.num_layers
    }

    /// Number of recorded steps.
    pub fn len(&self) -> usize {
        self.loss.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loss.0.is_empty()
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

    pub fn loss(&self) -> &[f64] {
        &self.loss.0
    }

    pub fn accuracy(&self) -> &[f64] {
        &self.accuracy.0
    }

    /// The learning rate of each step.
    pub fn lr(&self) -> &[f64] {
        &self.lr.0
    }

    /// Global gradient norm of each step before clipping.
    pub fn grad_norm_total(&self) -> &[f64] {
        &self.grad_norm_total.0
    }

    /// Global gradient norm of each step after clipping.
    pub fn grad_norm_clipped(&self) -> &[f64] {
        &self.grad_norm_clipped.0
    }

    /// The PReLU slopes of the hidden layers after recorded column `column` (empty
    /// for other activations).
    pub fn prelu_slopes(&self, column: usize) -> &[f64] {
        let hidden = self.num_layers.saturating_sub(1);
        let start = column * hidden;
        self.prelu_slope.0.get(start..start + hidden).unwrap_or(&[])
    }

    pub fn test_accuracy(&self) -> &[(u64, f64)] {
        &self.test_accuracy
    }

    /// All values of a per-layer metric, step-major.
    pub fn layer_series(&self, metric: LayerMetric) -> &[f64] {
        self.layers.get(&metric).map_or(&[], |s| &s.0)
    }

    /// The values of every row at recorded column `column`, input side first.
    pub fn layer_values(&self, metric: LayerMetric, column: usize) -> &[f64] {
        let rows = self.rows(metric);
        let start = column * rows;
        self.layer_series(metric)
            .get(start..start + rows)
            .unwrap_or(&[])
    }

    /// A summary of row `layer` (0-based) over the recorded columns in `columns`.
    pub fn summarize(
        &self,
        metric: LayerMetric,
        layer: usize,
        columns: std::ops::Range<usize>,
    ) -> CellSummary {
        let series = self.layer_series(metric);
        let rows = self.rows(metric);
        let end = columns.end.min(self.len());
        let values = (columns.start..end).filter_map(|c| series.get(c * rows + layer));
        CellSummary::of(values.copied())
    }

    /// Checks that the recorded lengths agree with each other, as those of a file read
    /// from disk may not.
    pub fn check(&self) -> Result<(), String> {
        let steps = self.len();
        // Far more steps than any run takes, and far from overflowing a step count.
        const MAX_STEP: u64 = 1 << 50;
        if self.first_step == 0 || self.first_step > MAX_STEP {
            return Err(format!(
                "history starts at step {}; allowed 1 to {MAX_STEP}",
                self.first_step
            ));
        }
        for (name, series) in [
            ("accuracy", &self.accuracy),
            ("lr", &self.lr),
            ("grad_norm_total", &self.grad_norm_total),
            ("grad_norm_clipped", &self.grad_norm_clipped),
        ] {
            if series.0.len() != steps {
                return Err(format!(
                    "history has {} {name} values for {steps} losses",
                    series.0.len()
                ));
            }
        }
        let hidden = self.num_layers.saturating_sub(1);
        let slopes = self.prelu_slope.0.len();
        if slopes != 0 && Some(slopes) != steps.checked_mul(hidden) {
            return Err(format!(
                "history has {slopes} prelu_slope values; {steps} steps of {hidden} hidden layers need {}",
                steps.saturating_mul(hidden)
            ));
        }
        if steps > 0 && self.num_layers == 0 {
            return Err("history has steps but no layers".into());
        }
        // Far more rows than any network has.
        const MAX_ROWS: usize = 100_000;
        for (metric, &count) in &self.rows {
            if count > MAX_ROWS {
                return Err(format!(
                    "history gives {} {count} rows; allowed at most {MAX_ROWS}",
                    metric.name()
                ));
            }
        }
        for metric in LayerMetric::ALL {
            let found = self.layer_series(metric).len();
            let rows = self.rows(metric);
            if Some(found) != steps.checked_mul(rows) {
                return Err(format!(
                    "history has {found} {} values; {steps} steps of {rows} rows need {}",
                    metric.name(),
                    steps.saturating_mul(rows)
                ));
            }
        }
        let last = self.last_step();
        for &(step, value) in &self.test_accuracy {
            if step < self.first_step || step > last || !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "test accuracy {value} at step {step} is out of range"
                ));
            }
        }
        Ok(())
    }

    /// The colour range covering every recorded value of a metric.
    pub fn color_range(&self, metric: LayerMetric) -> ColorRange {
        let scale = metric.scale();
        ColorRange::covering(scale, self.layer_series(metric).iter().copied())
            .unwrap_or(ColorRange::empty(scale))
    }
}
