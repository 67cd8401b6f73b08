//! Recorded metrics of one run, and the NaN-aware summaries that plots and heatmaps
//! draw from.

mod summary;

pub use summary::{CellSummary, DisplayValue, LogRange, decimate_min_max};

use serde::{Deserialize, Serialize};

use crate::train::{LayerMetric, StepRecord};

/// Every step of a run, kept column by column: one value per layer per step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunHistory {
    num_layers: usize,
    /// The step number of the first recorded step (1 for a run recorded from its start).
    first_step: u64,
    #[serde(with = "crate::session::nonfinite")]
    loss: Vec<f64>,
    #[serde(with = "crate::session::nonfinite")]
    accuracy: Vec<f64>,
    /// (step, accuracy) each time the test set was measured.
    test_accuracy: Vec<(u64, f64)>,
    /// Step-major: the values of step i are `[i·num_layers, (i+1)·num_layers)`.
    #[serde(with = "crate::session::nonfinite")]
    weight_grad_norm: Vec<f64>,
    #[serde(with = "crate::session::nonfinite")]
    activation_grad_norm: Vec<f64>,
}

impl RunHistory {
    pub fn new(num_layers: usize) -> Self {
        Self {
            num_layers,
            first_step: 1,
            ..Self::default()
        }
    }

    /// Appends one step. A record whose layer count disagrees is refused.
    pub fn push(&mut self, record: &StepRecord) -> bool {
        let fits = record.weight_grad_norm.len() == self.num_layers
            && record.activation_grad_norm.len() == self.num_layers;
        if !fits {
            return false;
        }
        if self.loss.is_empty() {
            self.first_step = record.step;
        }
        self.loss.push(record.loss);
        self.accuracy.push(record.accuracy);
        if let Some(test) = record.test_accuracy {
            self.test_accuracy.push((record.step, test));
        }
        self.weight_grad_norm
            .extend_from_slice(&record.weight_grad_norm);
        self.activation_grad_norm
            .extend_from_slice(&record.activation_grad_norm);
        true
    }

    pub fn num_layers(&self) -> usize {
        self.num_layers
    }

    /// Number of recorded steps.
    pub fn len(&self) -> usize {
        self.loss.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loss.is_empty()
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
        &self.loss
    }

    pub fn accuracy(&self) -> &[f64] {
        &self.accuracy
    }

    pub fn test_accuracy(&self) -> &[(u64, f64)] {
        &self.test_accuracy
    }

    /// All values of a per-layer metric, step-major.
    pub fn layer_series(&self, metric: LayerMetric) -> &[f64] {
        match metric {
            LayerMetric::WeightGradNorm => &self.weight_grad_norm,
            LayerMetric::ActivationGradNorm => &self.activation_grad_norm,
        }
    }

    /// The values of every layer at recorded column `column`, input side first.
    pub fn layer_values(&self, metric: LayerMetric, column: usize) -> &[f64] {
        let start = column * self.num_layers;
        self.layer_series(metric)
            .get(start..start + self.num_layers)
            .unwrap_or(&[])
    }

    /// A summary of layer `layer` (0-based) over the recorded columns in `columns`.
    pub fn summarize(
        &self,
        metric: LayerMetric,
        layer: usize,
        columns: std::ops::Range<usize>,
    ) -> CellSummary {
        let series = self.layer_series(metric);
        let end = columns.end.min(self.len());
        let values = (columns.start..end).filter_map(|c| series.get(c * self.num_layers + layer));
        CellSummary::of(values.copied())
    }

    /// Checks that the recorded lengths agree with each other, as those of a file read
    /// from disk may not.
    pub fn check(&self) -> Result<(), String> {
        let steps = self.len();
        if self.first_step == 0 {
            return Err("history starts at step 0; steps count from 1".into());
        }
        if self.accuracy.len() != steps {
            return Err(format!(
                "history has {} accuracy values for {steps} losses",
                self.accuracy.len()
            ));
        }
        if steps > 0 && self.num_layers == 0 {
            return Err("history has steps but no layers".into());
        }
        for metric in LayerMetric::ALL {
            let found = self.layer_series(metric).len();
            if Some(found) != steps.checked_mul(self.num_layers) {
                return Err(format!(
                    "history has {found} {} values; {steps} steps of {} layers need {}",
                    metric.name(),
                    self.num_layers,
                    steps.saturating_mul(self.num_layers)
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

    /// The decades spanned by the finite, non-zero values of a metric.
    pub fn log_range(&self, metric: LayerMetric) -> Option<LogRange> {
        LogRange::covering(self.layer_series(metric).iter().copied())
    }
}
