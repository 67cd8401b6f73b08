//! Hidden-layer nonlinearities as candle operations with gradients, and their
//! derivatives as plain functions for the saturation and dead-unit probes.

use candle_core::{Result, Tensor};

use crate::config::Activation;

/// ELU's α, as in Clevert et al. 2016.
pub const ELU_ALPHA: f64 = 1.0;
/// SELU's α and λ (Klambauer et al. 2017).
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
pub const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
/// PReLU's slope at initialisation (He et al. 2015).
pub const PRELU_INIT: f64 = 0.25;

/// A unit counts as saturated where |f'(z)| is below this fraction of the
/// activation's largest derivative.
pub const SATURATION_FRACTION: f64 = 0.05;

/// Applies `activation` element-wise. `leaky_slope` is Leaky ReLU's slope; `prelu_slope`
/// is the layer's learned PReLU slope (a one-element tensor), required for PReLU only.
pub fn apply_activation(
    x: &Tensor,
    activation: Activation,
    leaky_slope: f64,
    prelu_slope: Option<&Tensor>,
) -> Result<Tensor> {
    match activation {
        Activation::Sigmoid => candle_nn::ops::sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Softsign => x.broadcast_div(&(x.abs()? + 1.0)?),
        Activation::Relu => x.relu(),
        Activation::LeakyRelu => candle_nn::ops::leaky_relu(x, leaky_slope),
        Activation::Prelu => {
            let negative = x.minimum(0.0)?;
            match prelu_slope {
                Some(slope) => x.relu()? + negative.broadcast_mul(slope)?,
                None => x.relu()? + (negative * PRELU_INIT)?,
            }
        }
        Activation::Elu => x.elu(ELU_ALPHA),
        Activation::Selu => x.elu(SELU_ALPHA)? * SELU_LAMBDA,
        Activation::Gelu => x.gelu_erf(),
        Activation::Silu => x.silu(),
    }
}

/// f(z) for one pre-activation value, as [`apply_activation`] computes it element by
/// element, for the theory of signal propagation. `slope` is Leaky ReLU's or PReLU's
/// slope.
pub fn value(activation: Activation, z: f64, slope: f64) -> f64 {
    match activation {
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::Softsign => z / (1.0 + z.abs()),
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu | Activation::Prelu => {
            if z > 0.0 {
                z
            } else {
                slope * z
            }
        }
        Activation::Elu => {
            if z > 0.0 {
                z
            } else {
                ELU_ALPHA * z.exp_m1()
            }
        }
        Activation::Selu => {
            if z > 0.0 {
                SELU_LAMBDA * z
            } else {
                SELU_LAMBDA * SELU_ALPHA * z.exp_m1()
            }
        }
        Activation::Gelu => 0.5 * z * (1.0 + libm::erf(z / std::f64::consts::SQRT_2)),
        Activation::Silu => z / (1.0 + (-z).exp()),
    }
}

/// f'(z) for one pre-activation value. `slope` is Leaky ReLU's or PReLU's slope.
pub fn derivative(activation: Activation, z: f64, slope: f64) -> f64 {
    match activation {
        // Written with e^−|z| so that the tails keep their tiny values instead of rounding
        // to zero on one side: σ'(z) = e^−|z| / (1 + e^−|z|)², tanh'(z) = 4e^−2|z| / (1 + e^−2|z|)².
        Activation::Sigmoid => {
            let e = (-z.abs()).exp();
            e / ((1.0 + e) * (1.0 + e))
        }
        Activation::Tanh => {
            let e = (-2.0 * z.abs()).exp();
            4.0 * e / ((1.0 + e) * (1.0 + e))
        }
        Activation::Softsign => 1.0 / (1.0 + z.abs()).powi(2),
        Activation::Relu => f64::from(u8::from(z > 0.0)),
        Activation::LeakyRelu | Activation::Prelu => {
            if z > 0.0 {
                1.0
            } else {
                slope
            }
        }
        Activation::Elu => {
            if z > 0.0 {
                1.0
            } else {
                ELU_ALPHA * z.exp()
            }
        }
        Activation::Selu => {
            if z > 0.0 {
                SELU_LAMBDA
            } else {
                SELU_LAMBDA * SELU_ALPHA * z.exp()
            }
        }
        Activation::Gelu => {
            let cdf = 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
            cdf + z * pdf
        }
        Activation::Silu => {
            let s = 1.0 / (1.0 + (-z).exp());
            s * (1.0 + z * (1.0 - s))
        }
    }
}

/// The largest |f'(z)| over all z, the reference for "saturated".
pub fn max_derivative(activation: Activation, slope: f64) -> f64 {
    match activation {
        Activation::Sigmoid => 0.25,
        Activation::Tanh | Activation::Softsign | Activation::Relu | Activation::Elu => 1.0,
        Activation::LeakyRelu | Activation::Prelu => slope.abs().max(1.0),
        // Approached from below zero: λ·α·e^z → λ·α.
        Activation::Selu => SELU_LAMBDA * SELU_ALPHA,
        // At z = √2, where f''(z) = φ(z)(2 − z²) vanishes.
        Activation::Gelu => derivative(Activation::Gelu, std::f64::consts::SQRT_2, 0.0),
        // At z ≈ 2.3994, the root of f''(z) = 0.
        Activation::Silu => derivative(Activation::Silu, 2.399_357_280_515_8, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    const POINTS: [f64; 6] = [-3.0, -0.5, -1e-3, 0.3, 1.7, 4.0];

    /// Values against the textbook formulas, written out independently.
    #[test]
    fn values_match_formulas() -> Result<()> {
        let slope = 0.1;
        type Formula = fn(f64) -> f64;
        let sigmoid: Formula = |x| 1.0 / (1.0 + (-x).exp());
        let cases: [(Activation, Formula); 10] = [
            (Activation::Sigmoid, sigmoid),
            (Activation::Tanh, f64::tanh),
            (Activation::Softsign, |x| x / (1.0 + x.abs())),
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::LeakyRelu, |x| if x > 0.0 { x } else { 0.1 * x }),
            (Activation::Prelu, |x| if x > 0.0 { x } else { 0.25 * x }),
            (Activation::Elu, |x| if x > 0.0 { x } else { x.exp() - 1.0 }),
            (Activation::Selu, |x| {
                1.050_700_987_355_480_5
                    * if x > 0.0 {
                        x
                    } else {
                        1.673_263_242_354_377_3 * (x.exp() - 1.0)
                    }
            }),
            (Activation::Gelu, |x| {
                0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt()))
            }),
            (Activation::Silu, |x| x / (1.0 + (-x).exp())),
        ];
        for (activation, formula) in cases {
            let x = Tensor::new(&POINTS, &Device::Cpu)?;
            let y = apply_activation(&x, activation, slope, None)?.to_vec1::<f64>()?;
            for (i, &p) in POINTS.iter().enumerate() {
                assert!(
                    (y[i] - formula(p)).abs() < 1e-9,
                    "{activation:?}({p}) = {}",
                    y[i]
                );
            }
        }
        Ok(())
    }

    /// The scalar form used by the theory agrees with the tensor form the model uses.
    #[test]
    fn scalar_values_match_the_tensor_form() -> Result<()> {
        let slope = 0.1;
        for activation in Activation::ALL {
            let x = Tensor::new(&POINTS, &Device::Cpu)?;
            let y = apply_activation(&x, activation, slope, None)?.to_vec1::<f64>()?;
            let scalar_slope = if activation == Activation::Prelu {
                PRELU_INIT
            } else {
                slope
            };
            for (i, &p) in POINTS.iter().enumerate() {
                let v = value(activation, p, scalar_slope);
                assert!(
                    (v - y[i]).abs() < 1e-12 * (1.0 + y[i].abs()),
                    "{activation:?}({p}): scalar {v}, tensor {}",
                    y[i]
                );
            }
        }
        Ok(())
    }

    /// candle's gradients and the probes' derivative agree with central differences of
    /// the forward values.
    #[test]
    fn derivatives_match_finite_differences() -> Result<()> {
        let slope = 0.1;
        let h = 1e-6;
        for activation in Activation::ALL {
            let x = Var::from_vec(POINTS.to_vec(), POINTS.len(), &Device::Cpu)?;
            let y = apply_activation(x.as_tensor(), activation, slope, None)?;
            let grads = y.sum_all()?.backward()?;
            let Some(grad) = grads.get(x.as_tensor()) else {
                panic!("no gradient for {activation:?}");
            };
            let autograd = grad.to_vec1::<f64>()?;
            let probe_slope = if activation == Activation::Prelu {
                PRELU_INIT
            } else {
                slope
            };
            for (i, &p) in POINTS.iter().enumerate() {
                let f = |v: f64| -> Result<f64> {
                    let t = Tensor::new(&[v], &Device::Cpu)?;
                    Ok(apply_activation(&t, activation, slope, None)?.to_vec1::<f64>()?[0])
                };
                let numeric = (f(p + h)? - f(p - h)?) / (2.0 * h);
                assert!(
                    (autograd[i] - numeric).abs() < 1e-6,
                    "{activation:?}'({p}): {} vs {numeric}",
                    autograd[i]
                );
                let probe = derivative(activation, p, probe_slope);
                assert!(
                    (probe - numeric).abs() < 1e-6,
                    "probe {activation:?}'({p}): {probe} vs {numeric}"
                );
            }
        }
        Ok(())
    }

    /// The largest derivative, found by a fine grid search, matches the stated one.
    #[test]
    fn max_derivative_is_the_maximum() {
        for activation in Activation::ALL {
            let grid_max = (-200_000..=200_000)
                .map(|i| derivative(activation, f64::from(i) * 1e-4, 0.1).abs())
                .fold(0.0, f64::max);
            let stated = max_derivative(activation, 0.1);
            assert!(
                grid_max <= stated + 1e-9,
                "{activation:?}: grid {grid_max} > {stated}"
            );
            assert!(
                grid_max >= stated * (1.0 - 1e-3),
                "{activation:?}: grid {grid_max} < {stated}"
            );
        }
    }

    #[test]
    fn prelu_slope_is_learned() -> Result<()> {
        let slope = Var::new(&[0.25f64], &Device::Cpu)?;
        let x = Tensor::new(&[-2.0f64, 3.0], &Device::Cpu)?;
        let y = apply_activation(&x, Activation::Prelu, 0.0, Some(slope.as_tensor()))?;
        assert_eq!(y.to_vec1::<f64>()?, vec![-0.5, 3.0]);
        let grads = y.sum_all()?.backward()?;
        let Some(grad) = grads.get(slope.as_tensor()) else {
            panic!("no gradient for the slope");
        };
        // ∂/∂a of a·min(0, x) summed over x = −2 and 3.
        assert_eq!(grad.to_vec1::<f64>()?, vec![-2.0]);
        Ok(())
    }
}
