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

use super::apply_activation;
use super::init::{draw_blocks, draw_weights};
use super::mlp::{Linear, Parameter};
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
    /// (`(batch·positions) × outputs`), and what the probes need when `probes` is
    /// given.
    ///
    /// `probes` holds one zero-valued `batch × H` variable per layer and time step
    /// (layer-major: index `layer·T + t`); each hidden state becomes `h_t + p_t`, so
    /// that the gradient of `p_t` is ∂L/∂h_t, which candle would otherwise not keep.
    pub fn forward(&self, x: &Tensor, probes: Option<&[Var]>) -> Result<(Tensor, RecurrentTrace)> {
        let batch = x.dim(0)?;
        let (steps, hidden) = (self.seq_len, self.hidden);
        let tracing = probes.is_some();
        let mut trace = RecurrentTrace::default();

        // One contiguous `batch × inputs` tensor per time step. Slicing the data is
        // free; slicing a tensor that needs a gradient is not (candle pads each slice's
        // gradient back to the full size), so each step multiplies its own input
        // rather than taking a slice of one product over all steps.
        let time_major = x
            .reshape((batch, steps, self.step_inputs))?
            .transpose(0, 1)?
            .contiguous()?;
        let mut inputs: Vec<Tensor> = (0..steps)
            .map(|t| time_major.get(t))
            .collect::<Result<_>>()?;
        let mut states: Vec<Tensor> = Vec::new();
        for (index, layer) in self.layers.iter().enumerate() {
            // Broadcast once: each step then adds a plain tensor, and the backward pass
            // sums over the batch once rather than at every step.
            let width = layer.bias.as_tensor().dim(0)?;
            let bias = layer
                .bias
                .as_tensor()
                .broadcast_as((batch, width))?
                .contiguous()?;
            let zeros = Tensor::zeros((batch, hidden), x.dtype(), x.device())?;
            let mut h = zeros.clone();
            let mut c = zeros;
            states = Vec::with_capacity(steps);
            let mut pre = Vec::new();
            let mut gates: Vec<Vec<Tensor>> = vec![Vec::new(); num_blocks(self.kind) - 1];
            let mut plain = Vec::new();
            for (t, input) in inputs.iter().enumerate() {
                let x_part = (input.matmul(layer.input_weight.as_tensor())? + &bias)?;
                let h_part = h.matmul(layer.recurrent_weight.as_tensor())?;
                let a = (&x_part + &h_part)?;
                let next = match self.kind {
                    ModelKind::Rnn | ModelKind::Mlp => {
                        let next = apply_activation(&a, self.activation, self.leaky_slope, None)?;
                        if tracing {
                            pre.push(a);
                        }
                        next
                    }
                    ModelKind::Lstm => {
                        let s = candle_nn::ops::sigmoid(&a)?;
                        let (i, f, o) = (
                            s.narrow(1, 0, hidden)?,
                            s.narrow(1, hidden, hidden)?,
                            s.narrow(1, 3 * hidden, hidden)?,
                        );
                        let g_in = a.narrow(1, 2 * hidden, hidden)?;
                        c = ((f.mul(&c))? + i.mul(&g_in.tanh()?)?)?;
                        let next = o.mul(&c.tanh()?)?;
                        if tracing {
                            pre.push(g_in);
                            for (list, gate) in gates.iter_mut().zip([i, f, o]) {
                                list.push(gate);
                            }
                        }
                        next
                    }
                    ModelKind::Gru => {
                        let s = candle_nn::ops::sigmoid(&a.narrow(1, 0, 2 * hidden)?)?;
                        let (r, z) = (s.narrow(1, 0, hidden)?, s.narrow(1, hidden, hidden)?);
                        let n_in = (x_part.narrow(1, 2 * hidden, hidden)?
                            + r.mul(&h_part.narrow(1, 2 * hidden, hidden)?)?)?;
                        let n = n_in.tanh()?;
                        let next = (&n + z.mul(&(&h - &n)?)?)?;
                        if tracing {
                            pre.push(n_in);
                            for (list, gate) in gates.iter_mut().zip([r, z]) {
                                list.push(gate);
                            }
                        }
                        next
                    }
                };
                if tracing {
                    plain.push(next.clone());
                }
                h = match probes.and_then(|p| p.get(index * steps + t)) {
                    Some(probe) => next.add(probe.as_tensor())?,
                    None => next,
                };
                states.push(h.clone());
            }
            if tracing {
                trace.pre_activations.push(Tensor::cat(&pre, 0)?);
                trace.outputs.push(Tensor::cat(&plain, 0)?);
                for list in gates {
                    trace.gates.push(Tensor::cat(&list, 0)?);
                }
            }
            inputs = states.clone();
        }

        let last = &states[steps - self.positions..];
        let read = Tensor::stack(last, 1)?.reshape((batch * self.positions, hidden))?;
        let output = read
            .matmul(self.readout.weight.as_tensor())?
            .broadcast_add(self.readout.bias.as_tensor())?;
        if tracing {
            trace.outputs.push(output.clone());
        }
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
