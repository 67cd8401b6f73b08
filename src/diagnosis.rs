//! The diagnosis line: what the recorded evidence shows right now, with the numbers
//! it rests on and the panel worth trying.
//!
//! Every rule looks at the most recent `WINDOW` steps, so a single noisy step does not
//! flip the verdict:
//! - **diverged**: a NaN or infinite loss or gradient norm in the window;
//! - **exploding**: the largest layer's weight-gradient norm has a median of at least
//!   `EXPLODING_NORM`, or its median over the window's last fifth is at least
//!   `EXPLODING_GROWTH` times that over its first fifth;
//! - **vanishing**: the median of log10(|∂L/∂W_1| / |∂L/∂W_out|) is at most
//!   −`VANISHING_DECADES`: layer 1 learns orders of magnitude slower than the output;
//! - **saturation**: on average over the hidden layers, at least `SATURATED_FRACTION`
//!   of the units were saturated at the newest step (for activations with flat tails
//!   only: half of a healthy ReLU net's units sit on its flat side at any time, which
//!   is not saturation; dead units are what goes wrong there);
//! - **dead units**: on average over the hidden layers, at least `DEAD_FRACTION` of the
//!   units passed no gradient for the whole batch at the newest step;
//! - otherwise **healthy**, with the layer-1/output ratio.
//!
//! Recurrent nets are judged across time instead of across depth: the median of
//! log10(|∂L/∂h_1| / |∂L/∂h_T|) at most −`VANISHING_DECADES` is **vanishing across
//! time**, at least +`VANISHING_DECADES` is **exploding across time**, and the healthy
//! line gives that ratio.

use crate::config::Activation;
use crate::history::{RunHistory, Scalar};
use crate::train::LayerMetric;

/// Recent steps each rule looks at.
pub const WINDOW: usize = 50;
pub const EXPLODING_NORM: f64 = 1e3;
pub const EXPLODING_GROWTH: f64 = 100.0;
pub const VANISHING_DECADES: f64 = 3.0;
pub const SATURATED_FRACTION: f64 = 0.5;
pub const DEAD_FRACTION: f64 = 0.25;

/// One thing the evidence shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    Diverged { step: u64, what: String },
    Exploding { median_norm: f64, growth: f64 },
    Vanishing { decades: f64 },
    Saturation { fraction: f64 },
    DeadUnits { fraction: f64 },
    Healthy { decades: f64 },
    VanishingInTime { decades: f64, steps: usize },
    ExplodingInTime { decades: f64, steps: usize },
    HealthyInTime { decades: f64, steps: usize },
}

impl Finding {
    /// True for findings that call for a remedy.
    pub fn is_problem(&self) -> bool {
        !matches!(self, Self::Healthy { .. } | Self::HealthyInTime { .. })
    }

    /// One sentence with the numbers it rests on.
    pub fn message(&self) -> String {
        // Adding 0.0 turns a −0.0 into 0.0, so that no "1e-0.0" is printed.
        match self.normalised() {
            Self::Diverged { step, what } => format!("diverged at step {step}: {what}"),
            Self::Exploding {
                median_norm,
                growth,
            } => format!(
                "exploding: largest layer gradient ~{median_norm:.1e}, grown {growth:.0}× over the last {WINDOW} steps"
            ),
            Self::Vanishing { decades } => format!(
                "vanishing: layer 1's weight gradient is 1e{decades:.1} of the output layer's (median of the last {WINDOW} steps)"
            ),
            Self::Saturation { fraction } => {
                format!(
                    "saturation: {:.0}% of hidden units saturated",
                    fraction * 100.0
                )
            }
            Self::DeadUnits { fraction } => {
                format!(
                    "dead units: {:.0}% of hidden units pass no gradient",
                    fraction * 100.0
                )
            }
            Self::Healthy { decades } => format!(
                "healthy: layer 1's weight gradient is 1e{decades:.1} of the output layer's"
            ),
            Self::VanishingInTime { decades, steps } => format!(
                "vanishing across time: the gradient reaching time step 1 is 1e{decades:.1} of that at step {steps} (median of the last {WINDOW} steps)"
            ),
            Self::ExplodingInTime { decades, steps } => format!(
                "exploding across time: the gradient reaching time step 1 is 1e{decades:.1} times that at step {steps}"
            ),
            Self::HealthyInTime { decades, steps } => format!(
                "healthy: the gradient reaching time step 1 is 1e{decades:.1} of that at step {steps}"
            ),
        }
    }

    fn normalised(&self) -> Self {
        match self {
            Self::Vanishing { decades } => Self::Vanishing {
                decades: decades + 0.0,
            },
            Self::Healthy { decades } => Self::Healthy {
                decades: decades + 0.0,
            },
            &Self::VanishingInTime { decades, steps } => Self::VanishingInTime {
                decades: decades + 0.0,
                steps,
            },
            &Self::ExplodingInTime { decades, steps } => Self::ExplodingInTime {
                decades: decades + 0.0,
                steps,
            },
            &Self::HealthyInTime { decades, steps } => Self::HealthyInTime {
                decades: decades + 0.0,
                steps,
            },
            other => other.clone(),
        }
    }

    /// Where to look for a remedy.
    pub fn advice(&self) -> &'static str {
        match self {
            Self::Diverged { .. } | Self::Exploding { .. } => {
                "try Gradient clipping, a smaller Initialisation gain, or a lower learning rate"
            }
            Self::Vanishing { .. } => {
                "try a ReLU-family Activation, He or Xavier Initialisation, Batch norm or Residual connections"
            }
            Self::Saturation { .. } => {
                "try a non-saturating Activation, a smaller Initialisation gain, or Batch norm"
            }
            Self::DeadUnits { .. } => "try Leaky ReLU, PReLU or ELU, or a lower learning rate",
            Self::VanishingInTime { .. } => {
                "try an LSTM or GRU (Architecture), or an orthogonal or identity recurrent Initialisation"
            }
            Self::ExplodingInTime { .. } => {
                "try Gradient clipping or a smaller recurrent gain (Initialisation)"
            }
            Self::Healthy { .. } | Self::HealthyInTime { .. } => "",
        }
    }
}

/// What the newest `WINDOW` steps of `history`, recorded with `activation`, show;
/// empty before the first step.
pub fn diagnose(history: &RunHistory, activation: Activation) -> Vec<Finding> {
    let steps = history.len();
    if steps == 0 || history.num_layers() == 0 {
        return Vec::new();
    }
    // The window's steps are exact: a history keeps far more than `WINDOW` exact.
    let window = steps.saturating_sub(WINDOW).max(history.exact_start())..steps;
    if window.is_empty() {
        return Vec::new();
    }
    let last_layer = history.rows(LayerMetric::WeightGradNorm).saturating_sub(1);

    if let Some(finding) = divergence(history, window.clone()) {
        return vec![finding];
    }

    let mut findings = Vec::new();
    let largest: Vec<f64> = window
        .clone()
        .map(|c| {
            history
                .layer_values(LayerMetric::WeightGradNorm, c)
                .iter()
                .copied()
                .fold(0.0, f64::max)
        })
        .collect();
    let fifth = (largest.len() / 5).max(1);
    let growth = median(&largest[largest.len() - fifth..]) / median(&largest[..fifth]);
    let median_norm = median(&largest);
    let growth_counts = largest.len() >= 10 && growth >= EXPLODING_GROWTH;
    if median_norm >= EXPLODING_NORM || growth_counts {
        findings.push(Finding::Exploding {
            median_norm,
            growth,
        });
    }

    let time_steps = history.rows(LayerMetric::HiddenGradNorm);
    let (metric, last_row) = if time_steps > 0 {
        (LayerMetric::HiddenGradNorm, time_steps - 1)
    } else {
        (LayerMetric::WeightGradNorm, last_layer)
    };
    let ratios: Vec<f64> = window
        .map(|c| {
            let norms = history.layer_values(metric, c);
            match (norms.first(), norms.get(last_row)) {
                (Some(first), Some(last)) => (first / last).log10(),
                _ => f64::NAN,
            }
        })
        .filter(|r| !r.is_nan())
        .collect();
    let decades = median(&ratios);
    if time_steps > 0 {
        if decades <= -VANISHING_DECADES {
            findings.push(Finding::VanishingInTime {
                decades,
                steps: time_steps,
            });
        } else if decades >= VANISHING_DECADES {
            findings.push(Finding::ExplodingInTime {
                decades,
                steps: time_steps,
            });
        }
    } else if decades <= -VANISHING_DECADES {
        findings.push(Finding::Vanishing { decades });
    }

    let newest = steps - 1;
    let hidden_mean = |metric| {
        let values = history.layer_values(metric, newest);
        let hidden = &values[..values.len().saturating_sub(1)];
        if hidden.is_empty() {
            0.0
        } else {
            hidden.iter().sum::<f64>() / hidden.len() as f64
        }
    };
    let saturated = hidden_mean(LayerMetric::SaturatedFraction);
    if activation.saturates() && saturated >= SATURATED_FRACTION {
        findings.push(Finding::Saturation {
            fraction: saturated,
        });
    }
    let dead = hidden_mean(LayerMetric::DeadFraction);
    if dead >= DEAD_FRACTION {
        findings.push(Finding::DeadUnits { fraction: dead });
    }

    if findings.is_empty() {
        findings.push(if time_steps > 0 {
            Finding::HealthyInTime {
                decades,
                steps: time_steps,
            }
        } else {
            Finding::Healthy { decades }
        });
    }
    findings
}

fn divergence(history: &RunHistory, window: std::ops::Range<usize>) -> Option<Finding> {
    for column in window {
        let step = history.step_of(column);
        let loss = history.scalar_at(Scalar::Loss, column).unwrap_or(f64::NAN);
        if !loss.is_finite() {
            return Some(Finding::Diverged {
                step,
                what: format!("loss is {loss}"),
            });
        }
        for metric in LayerMetric::ALL
            .into_iter()
            .filter(|m| m.signals_divergence())
        {
            let values = history.layer_values(metric, column);
            if let Some(layer) = values.iter().position(|v| !v.is_finite()) {
                return Some(Finding::Diverged {
                    step,
                    what: format!(
                        "{} of {} {} is {}",
                        metric.name(),
                        if metric == LayerMetric::HiddenGradNorm {
                            "time step"
                        } else {
                            "layer"
                        },
                        layer + 1,
                        values[layer]
                    ),
                });
            }
        }
    }
    None
}

/// The median of the finite values (NaN if there are none).
fn median(values: &[f64]) -> f64 {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    finite.sort_by(f64::total_cmp);
    let mid = finite.len() / 2;
    if finite.len() % 2 == 1 {
        finite[mid]
    } else {
        (finite[mid - 1] + finite[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::StepRecord;

    fn diagnose_sigmoid(history: &RunHistory) -> Vec<Finding> {
        diagnose(history, Activation::Sigmoid)
    }

    /// A history of `steps` steps of a 3-layer net whose weight-gradient norms are
    /// `norms(step)` and whose hidden layers have the given saturated and dead fractions.
    fn history(
        steps: u64,
        norms: impl Fn(u64) -> [f64; 3],
        saturated: f64,
        dead: f64,
    ) -> RunHistory {
        let mut history = RunHistory::new(3);
        for step in 1..=steps {
            let n = norms(step);
            history.push(&StepRecord {
                step,
                loss: 1.0,
                weight_grad_norm: n.to_vec(),
                activation_grad_norm: n.to_vec(),
                update_ratio: vec![1e-3; 3],
                saturated_fraction: vec![saturated, saturated, 0.0],
                dead_fraction: vec![dead, dead, 0.0],
                activation_mean: vec![0.0; 3],
                activation_std: vec![1.0; 3],
                ..StepRecord::default()
            });
        }
        history
    }

    #[test]
    fn each_condition_is_named() {
        let vanishing = history(60, |_| [1e-6, 1e-3, 1e-1], 0.0, 0.0);
        assert!(
            matches!(diagnose_sigmoid(&vanishing)[..], [Finding::Vanishing { decades }] if (decades + 5.0).abs() < 1e-9)
        );

        let healthy = history(60, |_| [0.05, 0.1, 0.1], 0.1, 0.0);
        assert!(matches!(
            diagnose_sigmoid(&healthy)[..],
            [Finding::Healthy { .. }]
        ));

        // Norms growing tenfold every ten steps: 1e5× over the window.
        let growing = history(60, |s| [10f64.powf(s as f64 / 10.0); 3], 0.0, 0.0);
        assert!(
            diagnose_sigmoid(&growing)
                .iter()
                .any(|f| matches!(f, Finding::Exploding { .. }))
        );

        let saturated = history(5, |_| [0.1; 3], 0.8, 0.0);
        assert!(diagnose_sigmoid(&saturated).contains(&Finding::Saturation { fraction: 0.8 }));

        // The same evidence from a ReLU net is its inactive side, not saturation.
        assert!(matches!(
            diagnose(&saturated, Activation::Relu)[..],
            [Finding::Healthy { .. }]
        ));

        let dead = history(5, |_| [0.1; 3], 0.0, 0.5);
        assert!(diagnose_sigmoid(&dead).contains(&Finding::DeadUnits { fraction: 0.5 }));

        let diverged = history(
            5,
            |s| {
                if s == 4 {
                    [0.1, f64::NAN, 0.1]
                } else {
                    [0.1; 3]
                }
            },
            0.0,
            0.0,
        );
        assert!(matches!(
            &diagnose_sigmoid(&diverged)[..],
            [Finding::Diverged { step: 4, .. }]
        ));
    }

    #[test]
    fn a_single_bad_step_does_not_flip_the_verdict() {
        // One step with a layer-1 norm eight decades down among healthy ones.
        let history = history(
            60,
            |s| {
                if s == 30 {
                    [1e-9, 0.1, 0.1]
                } else {
                    [0.05, 0.1, 0.1]
                }
            },
            0.0,
            0.0,
        );
        assert!(matches!(
            diagnose_sigmoid(&history)[..],
            [Finding::Healthy { .. }]
        ));
    }

    #[test]
    fn thresholds_sit_where_documented() {
        // Exactly three decades counts as vanishing; a little less does not.
        let at = history(10, |_| [1e-4, 1e-2, 1e-1], 0.0, 0.0);
        assert!(matches!(
            diagnose_sigmoid(&at)[..],
            [Finding::Vanishing { .. }]
        ));
        let above = history(10, |_| [1.1e-4, 1e-2, 1e-1], 0.0, 0.0);
        assert!(matches!(
            diagnose_sigmoid(&above)[..],
            [Finding::Healthy { .. }]
        ));
    }
}
