//! Per-layer probes computed from what the forward pass kept: how many units are
//! saturated or dead, and the mean and spread of each layer's output.
//!
//! - `saturated_fraction`: the fraction of (example, unit) pairs of the batch where
//!   |f'(z)| is below 5% of the activation's largest derivative (0.25 for sigmoid, 1 for
//!   tanh, softsign, ReLU and ELU, λα ≈ 1.76 for SELU, ≈ 1.13 for GELU, ≈ 1.10 for
//!   SiLU). For ReLU this is the negative side; for sigmoid and tanh the flat tails.
//! - `dead_fraction`: the fraction of units with f'(z) = 0 exactly for every example of
//!   the batch: units through which no gradient flows at all (ReLU's negative side).
//! - `activation_mean`, `activation_std`: over all examples and units of the layer's
//!   output (after any residual addition and dropout).
//!
//! The output layer is linear: never saturated, never dead.

use crate::config::Activation;
use crate::model::activation::{SATURATION_FRACTION, derivative, max_derivative};

/// Saturated and dead fractions of one hidden layer from its pre-activations, given
/// row-major (`examples × units`); `slope` is Leaky ReLU's or the layer's PReLU slope.
pub fn saturation(
    pre_activation: &[f64],
    units: usize,
    activation: Activation,
    slope: f64,
) -> (f64, f64) {
    if pre_activation.is_empty() || units == 0 {
        return (0.0, 0.0);
    }
    let threshold = SATURATION_FRACTION * max_derivative(activation, slope);
    let mut saturated = 0usize;
    let mut alive = vec![false; units];
    for row in pre_activation.chunks(units) {
        for (unit, &z) in row.iter().enumerate() {
            let d = derivative(activation, z, slope).abs();
            if d < threshold {
                saturated += 1;
            }
            if d != 0.0 {
                alive[unit] = true;
            }
        }
    }
    let dead = alive.iter().filter(|&&a| !a).count();
    (
        saturated as f64 / pre_activation.len() as f64,
        dead as f64 / units as f64,
    )
}

/// Mean and population standard deviation of `values`.
pub fn moments(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_saturation_and_dead_units_by_hand() {
        // Unit 0 is negative for both examples (dead), unit 1 for one of them.
        let z = [-1.0, 2.0, 3.0, -0.5, -4.0, 1.0];
        let (saturated, dead) = saturation(&z, 3, Activation::Relu, 0.0);
        assert!((saturated - 3.0 / 6.0).abs() < 1e-12);
        assert!((dead - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn sigmoid_saturates_in_its_tails_but_never_dies() {
        // σ'(z) < 0.05 · 0.25 where |z| > ≈ 4.37.
        let (saturated, dead) = saturation(&[-10.0, 0.0, 4.3, 4.5], 4, Activation::Sigmoid, 0.0);
        assert!((saturated - 0.5).abs() < 1e-12);
        assert_eq!(dead, 0.0);
    }

    #[test]
    fn moments_by_hand() {
        let (mean, std) = moments(&[1.0, 3.0, 5.0, 7.0]);
        assert!((mean - 4.0).abs() < 1e-12);
        assert!((std - 5f64.sqrt()).abs() < 1e-12);
    }
}
