//! A multilayer perceptron: `depth` hidden layers and a linear output layer whose
//! logits feed a softmax cross-entropy loss.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::{apply_activation, init::draw_weights};
use crate::config::{Activation, ModelConfig};

/// One affine layer, `x · W + b`, with W of shape `fan_in × fan_out`.
#[derive(Debug)]
pub struct Linear {
    pub weight: Var,
    pub bias: Var,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(self.weight.as_tensor())?
            .broadcast_add(self.bias.as_tensor())
    }
}

/// The network. Layer 1 is the layer nearest the input; the last is the output layer.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
    leaky_slope: f64,
}

impl Mlp {
    /// Draws the weights from `rng` with the configured scheme; biases start at zero.
    pub fn new(
        config: &ModelConfig,
        num_inputs: usize,
        num_outputs: usize,
        dtype: DType,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let mut sizes = vec![num_inputs];
        sizes.extend(std::iter::repeat_n(config.width, config.depth));
        sizes.push(num_outputs);

        let layers = sizes
            .windows(2)
            .map(|pair| {
                let (fan_in, fan_out) = (pair[0], pair[1]);
                let weights = draw_weights(
                    config.init,
                    fan_in,
                    fan_out,
                    config.init_scale,
                    config.init_gain,
                    rng,
                );
                let weight = Tensor::from_vec(weights, (fan_in, fan_out), &Device::Cpu)?;
                Ok(Linear {
                    weight: Var::from_tensor(&weight.to_dtype(dtype)?)?,
                    bias: Var::zeros(fan_out, dtype, &Device::Cpu)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;

        Ok(Self {
            layers,
            activation: config.activation,
            leaky_slope: config.leaky_slope,
        })
    }

    /// Hidden layers plus the output layer.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The output width of every layer, input side first.
    pub fn layer_widths(&self) -> Vec<usize> {
        self.layers
            .iter()
            .map(|l| l.bias.as_tensor().dim(0).unwrap_or(0))
            .collect()
    }

    /// Computes the logits of a batch. With `probes` (one zero-valued variable per
    /// layer, shaped like that layer's output), each layer's output `h_l` becomes
    /// `h_l + p_l`: the value is unchanged and the gradient of `p_l` is ∂L/∂h_l, which
    /// candle would otherwise drop during the backward pass.
    pub fn forward(&self, x: &Tensor, probes: Option<&[Var]>) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (index, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if index < last {
                h = apply_activation(&h, self.activation, self.leaky_slope)?;
            }
            if let Some(probe) = probes.and_then(|p| p.get(index)) {
                h = h.add(probe.as_tensor())?;
            }
        }
        Ok(h)
    }
}
