//! What one training step reports: plain numbers, never tensors.

use serde::{Deserialize, Serialize};

/// Metrics recorded for each layer at each step. Layer 1 is nearest the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerMetric {
    /// Frobenius norm of ∂L/∂W_l.
    WeightGradNorm,
    /// Norm of ∂L/∂h_l, the gradient reaching layer l's output, over the batch.
    ActivationGradNorm,
}

impl LayerMetric {
    pub const ALL: [Self; 2] = [Self::WeightGradNorm, Self::ActivationGradNorm];

    /// The name used in `metrics.csv` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::WeightGradNorm => "weight_grad_norm",
            Self::ActivationGradNorm => "activation_grad_norm",
        }
    }

    /// A short label with the formula, for menus and axes.
    pub fn label(self) -> &'static str {
        match self {
            Self::WeightGradNorm => "weight gradient |∂L/∂W|",
            Self::ActivationGradNorm => "back-propagated gradient |∂L/∂h|",
        }
    }

    /// The quantity in symbols, for compact titles.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::WeightGradNorm => "|∂L/∂W|",
            Self::ActivationGradNorm => "|∂L/∂h|",
        }
    }

    /// The label in plain ASCII, for figures drawn with fonts of few symbols.
    pub fn label_ascii(self) -> &'static str {
        match self {
            Self::WeightGradNorm => "weight gradient norm |dL/dW|",
            Self::ActivationGradNorm => "back-propagated gradient norm |dL/dh|",
        }
    }
}

/// The measurements of one training step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// 1 for the first update.
    pub step: u64,
    /// Mean cross-entropy of the batch, before this step's update.
    pub loss: f64,
    /// Fraction of the batch classified correctly, before this step's update.
    pub accuracy: f64,
    /// Accuracy on the held-out test set after this step's update, when measured.
    pub test_accuracy: Option<f64>,
    /// `weight_grad_norm` for each layer, input side first.
    pub weight_grad_norm: Vec<f64>,
    /// `activation_grad_norm` for each layer, input side first.
    pub activation_grad_norm: Vec<f64>,
}

impl StepRecord {
    pub fn layer_values(&self, metric: LayerMetric) -> &[f64] {
        match metric {
            LayerMetric::WeightGradNorm => &self.weight_grad_norm,
            LayerMetric::ActivationGradNorm => &self.activation_grad_norm,
        }
    }

    /// Why this step means the run has diverged, if it does: a loss or a gradient
    /// norm that is NaN or infinite.
    pub fn divergence(&self) -> Option<String> {
        if !self.loss.is_finite() {
            return Some(format!("loss became {}", self.loss));
        }
        for metric in LayerMetric::ALL {
            let values = self.layer_values(metric);
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Some(format!(
                    "{} of layer {} became {}",
                    metric.name(),
                    index + 1,
                    values[index]
                ));
            }
        }
        None
    }
}
