//! Recurrent nets unrolled over time on candle: Elman's RNN, the LSTM and the GRU, with
//! one or more stacked layers and a linear read-out of the top layer's last states.
//!
//! Weights multiply from the right as in the MLP (`x·W`). A layer's input weights `W_x`
//! (`inputs × gates·H`) and recurrent weights `W_h` (`H × gates·H`) hold one block of
//! columns per gate, in the order:
//! - RNN: h_t = φ(x_t·W_x + h_{t−1}·W_h + b).
//! - LSTM (i, f, g, o): c_t = σ(f)⊙c_{t−1} + σ(i)⊙tanh(g), h_t = σ(o)⊙tanh(c_t); the
//!   forget block of `b` starts at `forget_bias`.
//! - GRU (r, z, n): n_t = tanh(x_t·W_xn + b_n + σ(r)⊙(h_{t−1}·W_hn)),
//!   h_t = (1 − σ(z))⊙n_t + σ(z)⊙h_{t−1}: the reset gate applied after the recurrent
//!   product, as cuDNN and PyTorch do, so that one product per step serves all gates.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::init::{draw_blocks, draw_weights};
use super::mlp::{Linear, Parameter};
use super::recurrence::{Recurrence, TimeGradients, Unrolled};
use crate::config::{Activation, ModelConfig, ModelKind};

/// One recurrent layer's parameters.
#[derive(Debug)]
pub struct RecurrentLayer {
    pub input_weight: Var,
    pub recurrent_weight: Var,
    pub bias: Var,
}

/// What a forward pass keeps for the probes, one entry per recurrent layer, every
/// time step stacked (`(T·batch) × H`).
#[derive(Debug, Default)]
pub struct RecurrentTrace {
    /// The input of the hidden nonlinearity: φ's for an RNN, the candidate's tanh for
    /// LSTM (g) and GRU (n).
    pub pre_activations: Vec<Tensor>,
    /// The hidden states of each layer (without probes), then the read-out's output.
    pub outputs: Vec<Tensor>,
    /// The values of each sigmoid gate of each layer, layer by layer.
    pub gates: Vec<Tensor>,
    /// Each layer's ‖∂L/∂h_t‖ per time step, filled in by the backward pass.
    pub time_gradients: Vec<TimeGradients>,
}

/// An unrolled recurrent net.
#[derive(Debug)]
pub struct RecurrentNet {
    kind: ModelKind,
    layers: Vec<RecurrentLayer>,
    readout: Linear,
    activation: Activation,
    leaky_slope: f64,
    hidden: usize,
    seq_len: usize,
    step_inputs: usize,
    /// The read-out looks at the last `positions` time steps.
    positions: usize,
}

impl RecurrentNet {
    /// Draws the input weights with `init` and the recurrent ones with
    /// `recurrent_init`, each gate's block on its own; biases start at zero but for the
    /// LSTM's forget gate.
    pub fn new(
        config: &ModelConfig,
        seq_len: usize,
        step_inputs: usize,
        positions: usize,
        num_outputs: usize,
        dtype: DType,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self> {
        let hidden = config.width;
        let gates = num_blocks(config.kind);
        let var = |values: Vec<f64>, shape: (usize, usize)| -> Result<Var> {
            let tensor = Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(dtype)?;
            Var::from_tensor(&tensor)
        };
        let mut layers = Vec::with_capacity(config.depth);
        for layer in 0..config.depth {
            let inputs = if layer == 0 { step_inputs } else { hidden };
            let w_x = draw_blocks(
                config.init,
                inputs,
                hidden,
                gates,
                config.init_scale,
                config.init_gain,
                rng,
            );
            let w_h = draw_blocks(
                config.recurrent_init,
                hidden,
                hidden,
                gates,
                config.init_scale,
                config.recurrent_gain,
                rng,
            );
            let mut bias = vec![0.0; gates * hidden];
            if config.kind == ModelKind::Lstm {
                bias[hidden..2 * hidden].fill(config.forget_bias);
            }
            layers.push(RecurrentLayer {
                input_weight: var(w_x, (inputs, gates * hidden))?,
                recurrent_weight: var(w_h, (hidden, gates * hidden))?,
                bias: Var::from_tensor(
                    &Tensor::from_vec(bias, gates * hidden, &Device::Cpu)?.to_dtype(dtype)?,
                )?,
            });
        }
        let w_out = draw_weights(
            config.init,
            hidden,
            num_outputs,
            config.init_scale,
            config.init_gain,
            rng,
        );
        let readout = Linear {
            weight: var(w_out, (hidden, num_outputs))?,
            bias: Var::zeros(num_outputs, dtype, &Device::Cpu)?,
        };
        Ok(Self {
            kind: config.kind,
            layers,
            readout,
            activation: config.activation,
            leaky_slope: config.leaky_slope,
            hidden,
            seq_len,
            step_inputs,
            positions,
        })
    }

    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    pub fn layers(&self) -> &[RecurrentLayer] {
        &self.layers
    }

    pub fn readout(&self) -> &Linear {
        &self.readout
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    pub fn leaky_slope(&self) -> f64 {
        self.leaky_slope
    }

    /// The weight matrices, input side first: `W_x` and `W_h` of each layer, then the
    /// read-out's.
    pub fn weight_matrices(&self) -> Vec<&Var> {
        let mut weights: Vec<&Var> = self
            .layers
            .iter()
            .flat_map(|l| [&l.input_weight, &l.recurrent_weight])
            .collect();
        weights.push(&self.readout.weight);
        weights
    }

    /// Every trainable tensor; the weight matrices decay, the biases do not.
    pub fn parameters(&self) -> Vec<Parameter<'_>> {
        let mut params = Vec::new();
        for layer in &self.layers {
            params.push(Parameter {
                var: &layer.input_weight,
                decays: true,
            });
            params.push(Parameter {
                var: &layer.recurrent_weight,
                decays: true,
            });
            params.push(Parameter {
                var: &layer.bias,
                decays: false,
            });
        }
        params.push(Parameter {
            var: &self.readout.weight,
            decays: true,
        });
        params.push(Parameter {
            var: &self.readout.bias,
            decays: false,
        });
        params
    }

    /// The model's tensors by stable names.
    pub fn named_state(&self) -> Vec<(String, &Var)> {
        let mut state = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            state.push((format!("rnn{}.input_weight", i + 1), &layer.input_weight));
            state.push((
                format!("rnn{}.recurrent_weight", i + 1),
                &layer.recurrent_weight,
            ));
            state.push((format!("rnn{}.bias", i + 1), &layer.bias));
        }
        state.push(("readout.weight".to_owned(), &self.readout.weight));
        state.push(("readout.bias".to_owned(), &self.readout.bias));
        state
    }

    /// Runs a batch of flat sequences (`batch × seq_len·inputs`) through the net.
    /// Returns the read-out of the last `positions` steps, example-major
    /// (`(batch·positions) × outputs`), and what the probes need.
    ///
    /// Each layer's input products are one matrix product over all time steps (rows
    /// time-major); its recurrence is one [`Recurrence`] op, whose backward pass
    /// records ‖∂L/∂h_t‖ for every step in the trace's `time_gradients`. With
    /// `output_probe` (a zero-valued `(batch·positions) × outputs` variable) added to
    /// the read-out, that variable's gradient is ∂L/∂output.
    pub fn forward(
        &self,
        x: &Tensor,
        output_probe: Option<&Var>,
    ) -> Result<(Tensor, RecurrentTrace)> {
        let batch = x.dim(0)?;
        let (steps, hidden) = (self.seq_len, self.hidden);
        let mut trace = RecurrentTrace::default();
        // Row t·batch + b is example b at step t.
        let mut inputs = x
            .reshape((batch, steps, self.step_inputs))?
            .transpose(0, 1)?
            .contiguous()?
            .reshape((steps * batch, self.step_inputs))?;
        for (index, layer) in self.layers.iter().enumerate() {
            let size = Unrolled {
                steps,
                batch,
                hidden,
                inputs: inputs.dim(1)?,
            };
            let recurrence = Recurrence::new(
                self.kind,
                (self.activation, self.leaky_slope),
                size,
                index > 0,
            );
            let states = recurrence.apply(
                &inputs,
                layer.input_weight.as_tensor(),
                layer.bias.as_tensor(),
                layer.recurrent_weight.as_tensor(),
            )?;
            let saved = recurrence.saved()?;
            trace.pre_activations.push(saved.pre_activation);
            trace.gates.extend(saved.gates);
            trace.outputs.push(states.detach());
            trace.time_gradients.push(recurrence.gradients());
            inputs = states;
        }

        let read = inputs
            .narrow(0, (steps - self.positions) * batch, self.positions * batch)?
            .reshape((self.positions, batch, hidden))?
            .transpose(0, 1)?
            .contiguous()?
            .reshape((batch * self.positions, hidden))?;
        let output = read
            .matmul(self.readout.weight.as_tensor())?
            .broadcast_add(self.readout.bias.as_tensor())?;
        trace.outputs.push(output.detach());
        let output = match output_probe {
            Some(probe) => output.add(probe.as_tensor())?,
            None => output,
        };
        Ok((output, trace))
    }
}

/// Column blocks of a cell's weights: one per gate and the candidate.
pub fn num_blocks(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Mlp | ModelKind::Rnn => 1,
        ModelKind::Lstm => 4,
        ModelKind::Gru => 3,
    }
}
