//! What one training step reports: plain numbers, never tensors.

use serde::{Deserialize, Serialize};

/// How a metric's values map to colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Colour by log10 of the magnitude: norms and ratios spanning many decades.
    Log,
    /// Colour by the value itself, within fixed bounds if the metric has them.
    Linear { fixed: Option<(i32, i32)> },
}

/// Metrics recorded for each layer at each step. Layer 1 is nearest the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerMetric {
    /// Frobenius norm of ∂L/∂W_l.
    WeightGradNorm,
    /// Norm of ∂L/∂h_l, the gradient reaching layer l's output, over the batch.
    ActivationGradNorm,
    /// ‖ΔW_l‖/‖W_l‖ of the step just taken.
    UpdateRatio,
    /// Fraction of (example, unit) pairs with |f'(z)| below 5% of its maximum.
    SaturatedFraction,
    /// Fraction of units with f'(z) = 0 for the whole batch.
    DeadFraction,
    /// Mean of the layer's output over the batch.
    ActivationMean,
    /// Standard deviation of the layer's output over the batch.
    ActivationStd,
    /// Recurrent nets: ‖∂L/∂h_t‖ of the first recurrent layer at each time step t.
    HiddenGradNorm,
    /// LSTM and GRU: the mean value of each sigmoid gate of each layer.
    GateMean,
    /// LSTM and GRU: the fraction of a gate's values where σ'(z) is below 5% of its
    /// maximum, i.e. the gate is stuck near 0 or 1.
    GateSaturation,
    /// Recurrent nets: the largest singular value of each layer's recurrent weights, as
    /// they were in the step's forward pass.
    RecurrentSigma,
}

impl LayerMetric {
    pub const ALL: [Self; 11] = [
        Self::WeightGradNorm,
        Self::ActivationGradNorm,
        Self::UpdateRatio,
        Self::SaturatedFraction,
        Self::DeadFraction,
        Self::ActivationMean,
        Self::ActivationStd,
        Self::HiddenGradNorm,
        Self::GateMean,
        Self::GateSaturation,
        Self::RecurrentSigma,
    ];

    /// True for the metrics only recurrent nets record.
    pub fn is_recurrent_only(self) -> bool {
        matches!(
            self,
            Self::HiddenGradNorm | Self::GateMean | Self::GateSaturation | Self::RecurrentSigma
        )
    }

    /// The name used in `metrics.csv` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::WeightGradNorm => "weight_grad_norm",
            Self::ActivationGradNorm => "activation_grad_norm",
            Self::UpdateRatio => "update_ratio",
            Self::SaturatedFraction => "saturated_fraction",
            Self::DeadFraction => "dead_fraction",
            Self::ActivationMean => "activation_mean",
            Self::ActivationStd => "activation_std",
            Self::HiddenGradNorm => "hidden_grad_norm",
            Self::GateMean => "gate_mean",
            Self::GateSaturation => "gate_saturation",
            Self::RecurrentSigma => "recurrent_sigma",
        }
    }

    /// A short label with the formula, for menus and axes.
    pub fn label(self) -> &'static str {
        match self {
            Self::WeightGradNorm => "weight gradient |∂L/∂W|",
            Self::ActivationGradNorm => "back-propagated gradient |∂L/∂h|",
            Self::UpdateRatio => "update ratio |ΔW|/|W|",
            Self::SaturatedFraction => "saturated units (fraction)",
            Self::DeadFraction => "dead units (fraction)",
            Self::ActivationMean => "activation mean",
            Self::ActivationStd => "activation std",
            Self::HiddenGradNorm => "gradient across time |∂L/∂h_t|",
            Self::GateMean => "gate mean",
            Self::GateSaturation => "saturated gates (fraction)",
            Self::RecurrentSigma => "largest singular value of W_h",
        }
    }

    /// The quantity in symbols, for compact titles.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::WeightGradNorm => "|∂L/∂W|",
            Self::ActivationGradNorm => "|∂L/∂h|",
            Self::UpdateRatio => "|ΔW|/|W|",
            Self::SaturatedFraction => "saturated",
            Self::DeadFraction => "dead",
            Self::ActivationMean => "mean(h)",
            Self::ActivationStd => "std(h)",
            Self::HiddenGradNorm => "|∂L/∂h_t|",
            Self::GateMean => "gate",
            Self::GateSaturation => "saturated gates",
            Self::RecurrentSigma => "σ_max(W_h)",
        }
    }

    /// The label in plain ASCII, for figures drawn with fonts of few symbols.
    pub fn label_ascii(self) -> &'static str {
        match self {
            Self::WeightGradNorm => "weight gradient norm |dL/dW|",
            Self::ActivationGradNorm => "back-propagated gradient norm |dL/dh|",
            Self::UpdateRatio => "update ratio |dW|/|W|",
            Self::SaturatedFraction => "fraction of saturated units",
            Self::DeadFraction => "fraction of dead units",
            Self::ActivationMean => "mean of the layer output",
            Self::ActivationStd => "standard deviation of the layer output",
            Self::HiddenGradNorm => "gradient norm across time |dL/dh_t|",
            Self::GateMean => "mean gate value",
            Self::GateSaturation => "fraction of saturated gate values",
            Self::RecurrentSigma => "largest singular value of the recurrent weights",
        }
    }

    pub fn scale(self) -> Scale {
        match self {
            Self::WeightGradNorm
            | Self::ActivationGradNorm
            | Self::UpdateRatio
            | Self::ActivationStd
            | Self::HiddenGradNorm
            | Self::RecurrentSigma => Scale::Log,
            Self::SaturatedFraction
            | Self::DeadFraction
            | Self::GateMean
            | Self::GateSaturation => Scale::Linear {
                fixed: Some((0, 1)),
            },
            Self::ActivationMean => Scale::Linear { fixed: None },
        }
    }

    /// True for the gradient norms whose NaN or Inf means the run has diverged.
    pub fn signals_divergence(self) -> bool {
        matches!(
            self,
            Self::WeightGradNorm | Self::ActivationGradNorm | Self::HiddenGradNorm
        )
    }
}

/// The measurements of one training step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepRecord {
    /// 1 for the first update.
    pub step: u64,
    /// Mean cross-entropy (squared error for the adding problem) of the batch, before
    /// this step's update.
    pub loss: f64,
    /// Fraction of the batch classified correctly (adding problem: answered within
    /// 0.04), before this step's update.
    pub accuracy: f64,
    /// Accuracy on the held-out test set after this step's update, when measured.
    pub test_accuracy: Option<f64>,
    /// The learning rate this step used.
    pub lr: f64,
    /// Global norm of all parameter gradients before clipping, and after.
    pub grad_norm_total: f64,
    pub grad_norm_clipped: f64,
    /// One value per layer, input side first, for each metric.
    pub weight_grad_norm: Vec<f64>,
    pub activation_grad_norm: Vec<f64>,
    pub update_ratio: Vec<f64>,
    pub saturated_fraction: Vec<f64>,
    pub dead_fraction: Vec<f64>,
    pub activation_mean: Vec<f64>,
    pub activation_std: Vec<f64>,
    pub hidden_grad_norm: Vec<f64>,
    pub gate_mean: Vec<f64>,
    pub gate_saturation: Vec<f64>,
    pub recurrent_sigma: Vec<f64>,
    /// PReLU's learned slope of each hidden layer after this step (empty otherwise).
    pub prelu_slope: Vec<f64>,
}

impl StepRecord {
    /// A record of step `step` whose every MLP metric holds `layers` (one value a layer),
    /// the rest left empty or zero: the history's tests fill these in.
    #[cfg(test)]
    pub(crate) fn every_mlp_metric(step: u64, layers: &[f64]) -> Self {
        Self {
            step,
            weight_grad_norm: layers.to_vec(),
            activation_grad_norm: layers.to_vec(),
            update_ratio: layers.to_vec(),
            saturated_fraction: layers.to_vec(),
            dead_fraction: layers.to_vec(),
            activation_mean: layers.to_vec(),
            activation_std: layers.to_vec(),
            ..Self::default()
        }
    }

    pub fn layer_values(&self, metric: LayerMetric) -> &[f64] {
        match metric {
            LayerMetric::WeightGradNorm => &self.weight_grad_norm,
            LayerMetric::ActivationGradNorm => &self.activation_grad_norm,
            LayerMetric::UpdateRatio => &self.update_ratio,
            LayerMetric::SaturatedFraction => &self.saturated_fraction,
            LayerMetric::DeadFraction => &self.dead_fraction,
            LayerMetric::ActivationMean => &self.activation_mean,
            LayerMetric::ActivationStd => &self.activation_std,
            LayerMetric::HiddenGradNorm => &self.hidden_grad_norm,
            LayerMetric::GateMean => &self.gate_mean,
            LayerMetric::GateSaturation => &self.gate_saturation,
            LayerMetric::RecurrentSigma => &self.recurrent_sigma,
        }
    }

    /// Why this step means the run has diverged, if it does: a loss or a gradient
    /// norm that is NaN or infinite.
    pub fn divergence(&self) -> Option<String> {
        if !self.loss.is_finite() {
            return Some(format!("loss became {}", self.loss));
        }
        for metric in LayerMetric::ALL
            .into_iter()
            .filter(|m| m.signals_divergence())
        {
            let values = self.layer_values(metric);
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                let place = if metric == LayerMetric::HiddenGradNorm {
                    "time step"
                } else {
                    "layer"
                };
                return Some(format!(
                    "{} of {place} {} became {}",
                    metric.name(),
                    index + 1,
                    values[index]
                ));
            }
        }
        None
    }
}
