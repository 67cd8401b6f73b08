//! Hidden-layer nonlinearities as candle operations with gradients.

use candle_core::{Result, Tensor};

use crate::config::Activation;

/// Applies `activation` element-wise; `leaky_slope` is used by Leaky ReLU only.
pub fn apply_activation(x: &Tensor, activation: Activation, leaky_slope: f64) -> Result<Tensor> {
    match activation {
        Activation::Sigmoid => candle_nn::ops::sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Relu => x.relu(),
        Activation::LeakyRelu => candle_nn::ops::leaky_relu(x, leaky_slope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Values and derivatives against the textbook formulas at a few points.
    #[test]
    fn values_and_derivatives_match_formulas() -> Result<()> {
        let points = [-2.0f64, -0.5, 0.3, 1.7];
        let slope = 0.1;
        type Formula = fn(f64, f64) -> (f64, f64);
        let cases: [(Activation, Formula); 4] = [
            (Activation::Sigmoid, |x, _| {
                let s = 1.0 / (1.0 + (-x).exp());
                (s, s * (1.0 - s))
            }),
            (Activation::Tanh, |x, _| (x.tanh(), 1.0 - x.tanh().powi(2))),
            (Activation::Relu, |x, _| {
                if x > 0.0 { (x, 1.0) } else { (0.0, 0.0) }
            }),
            (Activation::LeakyRelu, |x, a| {
                if x > 0.0 { (x, 1.0) } else { (a * x, a) }
            }),
        ];
        for (activation, formula) in cases {
            let x = Var::from_vec(points.to_vec(), points.len(), &Device::Cpu)?;
            let y = apply_activation(x.as_tensor(), activation, slope)?;
            let grads = y.sum_all()?.backward()?;
            let values = y.to_vec1::<f64>()?;
            let Some(grad) = grads.get(x.as_tensor()) else {
                panic!("no gradient for {activation:?}");
            };
            let derivatives = grad.to_vec1::<f64>()?;
            for (i, &p) in points.iter().enumerate() {
                let (value, derivative) = formula(p, slope);
                assert!((values[i] - value).abs() < 1e-12, "{activation:?}({p})");
                assert!(
                    (derivatives[i] - derivative).abs() < 1e-12,
                    "{activation:?}'({p})"
                );
            }
        }
        Ok(())
    }
}
