//! A multilayer perceptron: `depth` hidden layers and a linear output layer whose
//! logits feed a softmax cross-entropy loss; optionally batch normalisation, residual
//! connections, dropout and learned PReLU slopes.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand_chacha::ChaCha8Rng;

mod pass;

pub use pass::{PassProbes, TrainPass};

use super::activation::PRELU_INIT;
use super::fused::{FusedActivation, Slot, batch_norm_train, dense, tap};
use super::{apply_activation, init::draw_weights};
use crate::config::{Activation, ModelConfig};

/// Batch normalisation's ε and running-statistics momentum (the common defaults).
const BN_EPSILON: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

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

/// Batch normalisation of one layer's pre-activations (Ioffe & Szegedy 2015): batch
/// statistics in training, running statistics in evaluation, then a learned scale
/// and shift.
#[derive(Debug)]
pub struct BatchNorm {
    pub gamma: Var,
    pub beta: Var,
    /// Running statistics: updated in training, never by gradients.
    pub running_mean: Var,
    pub running_var: Var,
}

impl BatchNorm {
    fn new(width: usize, dtype: DType) -> Result<Self> {
        Ok(Self {
            gamma: Var::ones(width, dtype, &Device::Cpu)?,
            beta: Var::zeros(width, dtype, &Device::Cpu)?,
            running_mean: Var::zeros(width, dtype, &Device::Cpu)?,
            running_var: Var::ones(width, dtype, &Device::Cpu)?,
        })
    }

    fn forward(&self, z: &Tensor, mode: Mode) -> Result<Tensor> {
        let (mean, var) = match mode {
            Mode::Train => {
                let mean = z.mean_keepdim(0)?;
                let centred = z.broadcast_sub(&mean)?;
                let var = centred.sqr()?.mean_keepdim(0)?;
                self.update_running(&mean, &var, z.dim(0)?)?;
                (mean, var)
            }
            Mode::Eval => (
                self.running_mean.as_tensor().unsqueeze(0)?,
                self.running_var.as_tensor().unsqueeze(0)?,
            ),
        };
        let normalised = z
            .broadcast_sub(&mean)?
            .broadcast_div(&(var + BN_EPSILON)?.sqrt()?)?;
        normalised
            .broadcast_mul(self.gamma.as_tensor())?
            .broadcast_add(self.beta.as_tensor())
    }

    /// Training mode as one fused op (see [`batch_norm_train`]), followed by
    /// `activation` when it can be fused: (output, pre-activation, ∂L/∂output slot).
    fn forward_train(
        &self,
        z: &Tensor,
        activation: FusedActivation,
        keep_output_grad: bool,
    ) -> Result<(Tensor, Tensor, Option<Slot>)> {
        let out = batch_norm_train(
            z,
            self.gamma.as_tensor(),
            self.beta.as_tensor(),
            BN_EPSILON,
            activation,
            keep_output_grad,
        )?;
        self.update_running(&out.stats.mean, &out.stats.var, z.dim(0)?)?;
        Ok((out.output, out.pre_activation, out.output_grad))
    }

    fn update_running(&self, mean: &Tensor, var: &Tensor, batch: usize) -> Result<()> {
        // The running variance is the unbiased estimate, as in the paper.
        let unbiased = if batch > 1 {
            (var.detach() * (batch as f64 / (batch - 1) as f64))?
        } else {
            var.detach()
        };
        let blend = |running: &Var, batch_stat: &Tensor| -> Result<()> {
            let next = ((running.as_tensor() * (1.0 - BN_MOMENTUM))?
                + (batch_stat.squeeze(0)? * BN_MOMENTUM)?)?;
            running.set(&next)
        };
        blend(&self.running_mean, &mean.detach())?;
        blend(&self.running_var, &unbiased)
    }
}

/// Training uses batch statistics and dropout; evaluation uses neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// What a forward pass keeps for the probes.
#[derive(Debug, Default)]
pub struct Trace {
    /// The input of each hidden layer's activation (after batch norm, if any).
    pub pre_activations: Vec<Tensor>,
    /// The output of every layer, output layer last.
    pub outputs: Vec<Tensor>,
    /// When probed: one slot per layer that the backward pass fills with ∂L/∂h_l, the
    /// gradient of the layer's output. A slot left empty means no gradient reached it.
    pub output_grads: Vec<Slot>,
}

/// One trainable tensor and whether weight decay applies to it.
pub struct Parameter<'a> {
    pub var: &'a Var,
    pub decays: bool,
}

/// The network. Layer 1 is the layer nearest the input; the last is the output layer.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    norms: Vec<BatchNorm>,
    prelu_slopes: Vec<Var>,
    activation: Activation,
    leaky_slope: f64,
    residual_every: usize,
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

        let norms = if config.batch_norm {
            (0..config.depth)
                .map(|_| BatchNorm::new(config.width, dtype))
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let prelu_slopes = if config.activation == Activation::Prelu {
            (0..config.depth)
                .map(|_| {
                    Var::from_tensor(&Tensor::new(&[PRELU_INIT], &Device::Cpu)?.to_dtype(dtype)?)
                })
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };

        Ok(Self {
            layers,
            norms,
            prelu_slopes,
            activation: config.activation,
            leaky_slope: config.leaky_slope,
            residual_every: config.residual_every,
        })
    }

    /// Hidden layers plus the output layer.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    pub fn batch_norms(&self) -> &[BatchNorm] {
        &self.norms
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The slope the saturation probe uses for hidden layer `index` (0-based).
    pub fn negative_slope(&self, index: usize) -> Result<f64> {
        match self.prelu_slopes.get(index) {
            Some(slope) => slope
                .as_tensor()
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()
                .map(|v| v[0]),
            None => Ok(self.leaky_slope),
        }
    }

    /// The learned PReLU slope of each hidden layer (empty for other activations).
    pub fn prelu_slopes(&self) -> Result<Vec<f64>> {
        (0..self.prelu_slopes.len())
            .map(|i| self.negative_slope(i))
            .collect()
    }

    /// The output width of every layer, input side first.
    pub fn layer_widths(&self) -> Vec<usize> {
        self.layers
            .iter()
            .map(|l| l.bias.as_tensor().dim(0).unwrap_or(0))
            .collect()
    }

    /// Every trainable tensor: weights (which decay), biases, batch-norm scales and
    /// shifts, PReLU slopes.
    pub fn parameters(&self) -> Vec<Parameter<'_>> {
        let mut params = Vec::new();
        for layer in &self.layers {
            params.push(Parameter {
                var: &layer.weight,
                decays: true,
            });
            params.push(Parameter {
                var: &layer.bias,
                decays: false,
            });
        }
        for norm in &self.norms {
            params.push(Parameter {
                var: &norm.gamma,
                decays: false,
            });
            params.push(Parameter {
                var: &norm.beta,
                decays: false,
            });
        }
        for slope in &self.prelu_slopes {
            params.push(Parameter {
                var: slope,
                decays: false,
            });
        }
        params
    }

    /// Every tensor that makes up the model's state, by a stable name: the parameters
    /// and batch norm's running statistics.
    pub fn named_state(&self) -> Vec<(String, &Var)> {
        let mut state = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            state.push((format!("layer{}.weight", i + 1), &layer.weight));
            state.push((format!("layer{}.bias", i + 1), &layer.bias));
        }
        for (i, norm) in self.norms.iter().enumerate() {
            state.push((format!("bn{}.gamma", i + 1), &norm.gamma));
            state.push((format!("bn{}.beta", i + 1), &norm.beta));
            state.push((format!("bn{}.running_mean", i + 1), &norm.running_mean));
            state.push((format!("bn{}.running_var", i + 1), &norm.running_var));
        }
        for (i, slope) in self.prelu_slopes.iter().enumerate() {
            state.push((format!("prelu{}.slope", i + 1), slope));
        }
        state
    }

    /// True when hidden layer `layer` (1-based) receives a skip connection: from the
    /// output of layer `layer − k` for layer = 1 + k, 1 + 2k, … (layer 1 maps the input
    /// to the hidden width, so the skips start from its output).
    pub fn has_skip(&self, layer: usize) -> bool {
        let k = self.residual_every;
        k > 0 && layer > k && (layer - 1).is_multiple_of(k) && layer < self.layers.len()
    }

    /// Computes the logits of a batch and keeps what the probes need.
    ///
    /// With `probe`, the trace holds one slot per layer that the backward pass fills
    /// with ∂L/∂h_l (which candle would otherwise drop): the fused op that produces
    /// h_l keeps it, or, where a residual addition or dropout follows that op, a tap on
    /// h_l. `dropout_masks` (one per hidden layer, entries 0 or 1/(1 − rate)) are
    /// applied in training mode.
    pub fn forward(
        &self,
        x: &Tensor,
        mode: Mode,
        probe: bool,
        dropout_masks: Option<&[Tensor]>,
    ) -> Result<(Tensor, Trace)> {
        let last = self.layers.len() - 1;
        let mut trace = Trace::default();
        let mut h = x.clone();
        for (index, layer) in self.layers.iter().enumerate() {
            let mask = dropout_masks
                .filter(|_| mode == Mode::Train)
                .and_then(|m| m.get(index));
            // The op's own output is h_l unless a skip or dropout follows it.
            let op_is_output = !self.has_skip(index + 1) && mask.is_none();
            let keep = probe && op_is_output;
            let (mut a, mut grad_slot) = if index < last {
                let (a, z, slot) = self.hidden_layer(index, layer, &h, mode, keep)?;
                trace.pre_activations.push(z);
                (a, slot)
            } else {
                let out = dense(
                    &h,
                    layer.weight.as_tensor(),
                    layer.bias.as_tensor(),
                    FusedActivation::Identity,
                    keep,
                )?;
                (out.output, out.output_grad)
            };
            if self.has_skip(index + 1) {
                a = (a + &trace.outputs[index - self.residual_every])?;
            }
            if let Some(mask) = mask {
                a = a.mul(mask)?;
            }
            if probe && grad_slot.is_none() {
                let (tapped, slot) = tap(&a)?;
                a = tapped;
                grad_slot = Some(slot);
            }
            trace.output_grads.extend(grad_slot);
            trace.outputs.push(a.clone());
            h = a;
        }
        Ok((h, trace))
    }

    /// One hidden layer up to its activation: (output, pre-activation, the slot of
    /// ∂L/∂output if asked for and the activation was fused).
    fn hidden_layer(
        &self,
        index: usize,
        layer: &Linear,
        h: &Tensor,
        mode: Mode,
        keep_output_grad: bool,
    ) -> Result<(Tensor, Tensor, Option<Slot>)> {
        let slope = self.prelu_slopes.get(index).map(Var::as_tensor);
        let fused = FusedActivation::of(self.activation).filter(|_| slope.is_none());
        let (w, b) = (layer.weight.as_tensor(), layer.bias.as_tensor());
        let (z, a, slot) = match (self.norms.get(index), mode, fused) {
            (Some(norm), Mode::Train, _) => {
                let u = dense(h, w, b, FusedActivation::Identity, false)?.output;
                let act = fused.unwrap_or(FusedActivation::Identity);
                let (out, z, slot) = norm.forward_train(&u, act, keep_output_grad)?;
                (z, fused.map(|_| out), slot)
            }
            (Some(norm), Mode::Eval, _) => (norm.forward(&layer.forward(h)?, mode)?, None, None),
            (None, _, Some(act)) => {
                let out = dense(h, w, b, act, keep_output_grad)?;
                (out.pre_activation, Some(out.output), out.output_grad)
            }
            (None, _, None) => (
                dense(h, w, b, FusedActivation::Identity, false)?.output,
                None,
                None,
            ),
        };
        match a {
            Some(a) => Ok((a, z, slot)),
            None => {
                let a = apply_activation(&z, self.activation, self.leaky_slope, slope)?;
                Ok((a, z, None))
            }
        }
    }
}
