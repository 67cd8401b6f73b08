//! The MLP's training pass with its backward written out layer by layer, for the
//! configurations whose every part is a fused op (ReLU, sigmoid or tanh, with or
//! without batch norm, residual connections and dropout).
//!
//! candle's autograd gives each gradient it accumulates a zero tensor and an addition,
//! and each matrix product a zero-filled destination; on a 50 × 256 net those passes
//! over memory are a fifth of a step. Here every gradient is computed once into its own
//! vector, with the same arithmetic in the same order as the fused ops under candle's
//! autograd, so both paths give the same numbers (see the tests).

use std::sync::{Arc, OnceLock};

use candle_core::{DType, Device, Result, Tensor};

use super::{BN_EPSILON, Mlp, Trace};
use crate::model::fused::{
    Float, FusedActivation, Matrix, Slot, Stats, add_bias, apply, backward_all, column_sums,
    normalise, product, with_slice,
};
use crate::parallel::{ELEMENTWISE_SPLIT, both, by_halves};
use crate::train::probes;

/// What [`Mlp::train_pass`] gives back.
pub struct TrainPass {
    pub logits: Tensor,
    /// As [`Mlp::forward`] keeps it, with the slots filled.
    pub trace: Trace,
    /// One gradient per tensor of [`Mlp::parameters`], in that order.
    pub param_grads: Vec<Option<Tensor>>,
    /// With `probe`: the probes, taken by the functions the trainer uses on the trace,
    /// each while its values were in cache.
    pub probes: Option<PassProbes>,
}

/// The probes of one step, taken inside the pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassProbes {
    /// The norm of each parameter's gradient, in the order of [`Mlp::parameters`].
    pub param_grad_norms: Vec<f64>,
    /// ‖∂L/∂h_l‖ of every layer's output, input side first.
    pub output_grad_norms: Vec<f64>,
    /// (saturated fraction, dead fraction) of every hidden layer's pre-activations
    /// ([`probes::saturation`]).
    pub saturation: Vec<(f64, f64)>,
    /// (mean, standard deviation) of every layer's output ([`probes::moments`]).
    pub moments: Vec<(f64, f64)>,
}

/// What the forward pass keeps of one hidden layer for the backward pass.
struct Hidden<T> {
    /// With batch norm: the dense layer's output, which batch norm normalises.
    dense_out: Option<(Vec<T>, Stats)>,
    /// The activation's input.
    z: Vec<T>,
    /// f(z).
    act: Vec<T>,
    /// The layer's output when a residual addition or dropout follows the activation.
    out: Option<Vec<T>>,
}

impl<T> Hidden<T> {
    fn output(&self) -> &[T] {
        self.out.as_deref().unwrap_or(&self.act)
    }
}

impl Mlp {
    /// The fused activation when [`Mlp::train_pass`] can train this net: every hidden
    /// layer's activation is fused (no PReLU, no activation computed by candle ops).
    fn direct_activation(&self) -> Option<FusedActivation> {
        FusedActivation::of(self.activation)
            .filter(|&act| self.prelu_slopes.is_empty() && act != FusedActivation::Identity)
    }

    /// Whether [`Mlp::train_pass`] can train this net.
    pub fn trains_directly(&self) -> bool {
        self.direct_activation().is_some()
    }

    /// A training step's forward and backward pass: the logits of `x`, then
    /// `logits_grad(logits)` = ∂L/∂logits, then every parameter's gradient and, with
    /// `probe`, every layer output's gradient in the trace. Batch norm's running
    /// statistics are updated as in [`Mlp::forward`].
    pub fn train_pass(
        &self,
        x: &Tensor,
        dropout_masks: Option<&[Tensor]>,
        probe: bool,
        logits_grad: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<TrainPass> {
        let Some(activation) = self.direct_activation() else {
            candle_core::bail!(
                "train pass: {:?} is not a fused activation",
                self.activation
            )
        };
        let pass = Pass {
            mlp: self,
            activation,
            masks: dropout_masks,
            probe,
        };
        let x = x.contiguous()?;
        match x.dtype() {
            DType::F32 => with_slice::<f32, _>(&x, |x| pass.run(x, logits_grad)),
            DType::F64 => with_slice::<f64, _>(&x, |x| pass.run(x, logits_grad)),
            other => candle_core::bail!("train pass: f32 or f64 only, not {other:?}"),
        }
    }
}

struct Pass<'a> {
    mlp: &'a Mlp,
    activation: FusedActivation,
    masks: Option<&'a [Tensor]>,
    probe: bool,
}

impl Pass<'_> {
    fn run<T: Float>(
        &self,
        x: &[T],
        logits_grad: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<TrainPass> {
        let (hidden, logits, mut probes) = self.forward(x)?;
        let batch = self.batch(x)?;
        let classes = logits.len() / batch.max(1);
        let logits = Tensor::from_vec(logits, (batch, classes), &Device::Cpu)?;
        let grad = logits_grad(&logits)?;
        if grad.dims() != logits.dims() || grad.dtype() != logits.dtype() {
            candle_core::bail!(
                "train pass: ∂L/∂logits is {:?} {:?}, the logits {:?} {:?}",
                grad.dims(),
                grad.dtype(),
                logits.dims(),
                logits.dtype()
            )
        }
        let grad = grad.flatten_all()?.to_vec1::<T>()?;
        let (param_grads, output_grads) = self.backward(x, &hidden, grad, &mut probes)?;

        let mut trace = Trace::default();
        for layer in hidden {
            let width = layer.z.len() / batch.max(1);
            let as_tensor = |v: Vec<T>| Tensor::from_vec(v, (batch, width), &Device::Cpu);
            trace.pre_activations.push(as_tensor(layer.z)?);
            trace
                .outputs
                .push(as_tensor(layer.out.unwrap_or(layer.act))?);
        }
        trace.outputs.push(logits.clone());
        if self.probe {
            trace.output_grads = output_grads
                .into_iter()
                .map(|grad| grad.map_or_else(Slot::default, |g| Arc::new(OnceLock::from(g))))
                .collect();
        }
        Ok(TrainPass {
            logits,
            trace,
            param_grads,
            probes: self.probe.then_some(probes),
        })
    }

    fn batch<T>(&self, x: &[T]) -> Result<usize> {
        let Some(first) = self.mlp.layers.first() else {
            candle_core::bail!("train pass: a net without layers")
        };
        let (fan_in, _) = first.weight.as_tensor().dims2()?;
        if fan_in == 0 || !x.len().is_multiple_of(fan_in) {
            candle_core::bail!("train pass: {} inputs are not rows of {fan_in}", x.len())
        }
        Ok(x.len() / fan_in)
    }

    /// Every hidden layer's kept values, the logits, and with `probe` the forward's
    /// probes (saturation and moments).
    fn forward<T: Float>(&self, x: &[T]) -> Result<(Vec<Hidden<T>>, Vec<T>, PassProbes)> {
        let mlp = self.mlp;
        let batch = self.batch(x)?;
        let last = mlp.layers.len() - 1;
        let mut hidden: Vec<Hidden<T>> = Vec::with_capacity(last);
        let mut taken = PassProbes::default();
        for (index, layer) in mlp.layers.iter().enumerate() {
            let h = hidden.last().map_or(x, Hidden::output);
            let weight = layer.weight.as_tensor().contiguous()?;
            let (fan_in, fan_out) = weight.dims2()?;
            let mut z = with_slice::<T, _>(&weight, |w| {
                product(
                    Matrix::new(h, batch, fan_in)?,
                    Matrix::new(w, fan_in, fan_out)?,
                    true,
                )
            })?;
            with_slice::<T, _>(&layer.bias.as_tensor().contiguous()?, |b| {
                add_bias(&mut z, b);
                Ok(())
            })?;
            if index == last {
                if self.probe {
                    taken.moments.push(probes::moments(&z));
                }
                return Ok((hidden, z, taken));
            }
            let dense_out = match mlp.norms.get(index) {
                Some(norm) => {
                    let gamma = norm.gamma.as_tensor().contiguous()?;
                    let beta = norm.beta.as_tensor().contiguous()?;
                    let (stats, y) = with_slice::<T, _>(&gamma, |g| {
                        with_slice::<T, _>(&beta, |b| Ok(normalise(&z, g, b, BN_EPSILON)))
                    })?;
                    let row = |v: &[f64]| {
                        Tensor::from_slice(v, (1, fan_out), &Device::Cpu)?.to_dtype(weight.dtype())
                    };
                    norm.update_running(&row(&stats.mean)?, &row(&stats.var)?, batch)?;
                    Some((std::mem::replace(&mut z, y), stats))
                }
                None => None,
            };
            let act = by_halves(z.len(), ELEMENTWISE_SPLIT, |r| {
                apply(self.activation, &z[r])
            });
            let mut out: Option<Vec<T>> = None;
            if mlp.has_skip(index + 1) {
                let skipped = hidden[index - mlp.residual_every].output();
                out = Some(act.iter().zip(skipped).map(|(&a, &s)| a + s).collect());
            }
            if let Some(mask) = self.mask(index) {
                let before = out.as_deref().unwrap_or(&act);
                let masked = with_slice::<T, _>(&mask.contiguous()?, |m| {
                    if m.len() != before.len() {
                        candle_core::bail!(
                            "train pass: a dropout mask of {} for {} values",
                            m.len(),
                            before.len()
                        )
                    }
                    Ok(before.iter().zip(m).map(|(&a, &m)| a * m).collect())
                })?;
                out = Some(masked);
            }
            let layer = Hidden {
                dense_out,
                z,
                act,
                out,
            };
            if self.probe {
                let (saturation, moments) = both(
                    || probes::saturation(&layer.z, fan_out, mlp.activation, mlp.leaky_slope),
                    || probes::moments(layer.output()),
                );
                taken.saturation.push(saturation);
                taken.moments.push(moments);
            }
            hidden.push(layer);
        }
        candle_core::bail!("train pass: a net without layers")
    }

    fn mask(&self, index: usize) -> Option<&Tensor> {
        self.masks.and_then(|m| m.get(index))
    }

    /// (the parameters' gradients in [`Mlp::parameters`]' order, each layer output's
    /// gradient) from ∂L/∂logits.
    #[allow(clippy::type_complexity)]
    fn backward<T: Float>(
        &self,
        x: &[T],
        hidden: &[Hidden<T>],
        logits_grad: Vec<T>,
        taken: &mut PassProbes,
    ) -> Result<(Vec<Option<Tensor>>, Vec<Option<Tensor>>)> {
        let mlp = self.mlp;
        let batch = self.batch(x)?;
        let layers = mlp.layers.len();
        let last = layers - 1;
        let tensor = |v: Vec<T>, shape: &[usize]| Tensor::from_vec(v, shape, &Device::Cpu);

        // ∂L/∂(output of layer l), summed over the layers that read it.
        let mut pending: Vec<Option<Vec<T>>> = (0..layers).map(|_| None).collect();
        pending[last] = Some(logits_grad);
        let mut weight_grads: Vec<Option<Tensor>> = vec![None; layers];
        let mut bias_grads: Vec<Option<Tensor>> = vec![None; layers];
        let mut norm_grads: Vec<Option<(Tensor, Tensor)>> = vec![None; mlp.norms.len()];
        let mut output_grads: Vec<Option<Tensor>> = vec![None; layers];
        // Norms of the weights' and biases' gradients, and of batch norm's γ and β.
        let mut layer_norms = vec![(0.0, 0.0); layers];
        let mut bn_norms = vec![(0.0, 0.0); mlp.norms.len()];
        let mut output_norms = vec![0.0; layers];

        for index in (0..layers).rev() {
            let Some(grad) = pending[index].take() else {
                candle_core::bail!("train pass: no gradient reached layer {}", index + 1)
            };
            if self.probe {
                output_norms[index] = T::norm(&grad);
            }
            let layer = &mlp.layers[index];
            let weight = layer.weight.as_tensor().contiguous()?;
            let (fan_in, fan_out) = weight.dims2()?;
            let h = if index == 0 {
                x
            } else {
                hidden[index - 1].output()
            };

            // ∂L/∂(h·W + b).
            let dz = if index == last {
                None
            } else {
                let kept = &hidden[index];
                let masked = match self.mask(index) {
                    Some(mask) => Some(with_slice::<T, _>(&mask.contiguous()?, |m| {
                        Ok(grad.iter().zip(m).map(|(&g, &m)| g * m).collect::<Vec<T>>())
                    })?),
                    None => None,
                };
                let after_mask = masked.as_deref().unwrap_or(&grad);
                if mlp.has_skip(index + 1) {
                    accumulate(
                        &mut pending[index - mlp.residual_every],
                        after_mask.to_vec(),
                    );
                }
                let dy = by_halves(after_mask.len(), ELEMENTWISE_SPLIT, |r| {
                    backward_all(
                        self.activation,
                        &after_mask[r.clone()],
                        &kept.z[r.clone()],
                        &kept.act[r],
                    )
                });
                Some(match (&kept.dense_out, mlp.norms.get(index)) {
                    (Some((u, stats)), Some(norm)) => {
                        let gamma = norm.gamma.as_tensor().contiguous()?;
                        let (du, dgamma, dbeta) =
                            with_slice::<T, _>(&gamma, |g| Ok(stats.backward(dy, u, g)))?;
                        bn_norms[index] = (T::norm(&dgamma), T::norm(&dbeta));
                        norm_grads[index] =
                            Some((tensor(dgamma, &[fan_out])?, tensor(dbeta, &[fan_out])?));
                        du
                    }
                    _ => dy,
                })
            };
            let dz_values = dz.as_deref().unwrap_or(&grad);
            let bias_grad = column_sums(dz_values, fan_out);
            let bias_norm = if self.probe { T::norm(&bias_grad) } else { 0.0 };
            bias_grads[index] = Some(tensor(bias_grad, &[fan_out])?);
            let dz_matrix = Matrix::new(dz_values, batch, fan_out)?;
            let h_matrix = Matrix::new(h, batch, fan_in)?;
            // ∂L/∂W = hᵀ·dz and ∂L/∂h = dz·Wᵀ, side by side inside a pool of two.
            let (dw, dh) = with_slice::<T, _>(&weight, |w| {
                let w = Matrix::new(w, fan_in, fan_out)?;
                let (dw, dh) = both(
                    || {
                        // Its norm while it is in cache.
                        product(h_matrix.t(), dz_matrix, index == 0)
                            .map(|dw| (self.probe.then(|| T::norm(&dw)), dw))
                    },
                    || {
                        (index > 0)
                            .then(|| product(dz_matrix, w.t(), false))
                            .transpose()
                    },
                );
                Ok((dw?, dh?))
            })?;
            let (dw_norm, dw) = dw;
            layer_norms[index] = (dw_norm.unwrap_or(0.0), bias_norm);
            weight_grads[index] = Some(tensor(dw, &[fan_in, fan_out])?);
            if let Some(dh) = dh {
                accumulate(&mut pending[index - 1], dh);
            }
            if self.probe {
                output_grads[index] = Some(tensor(grad, &[batch, fan_out])?);
            }
        }

        if self.probe {
            taken.output_grad_norms = output_norms;
            taken.param_grad_norms = layer_norms
                .into_iter()
                .chain(bn_norms)
                .flat_map(|(a, b)| [a, b])
                .collect();
        }
        let mut params = Vec::with_capacity(2 * layers + 2 * norm_grads.len());
        for (w, b) in weight_grads.into_iter().zip(bias_grads) {
            params.push(w);
            params.push(b);
        }
        for grads in norm_grads {
            let (gamma, beta) = grads.unzip();
            params.push(gamma);
            params.push(beta);
        }
        Ok((params, output_grads))
    }
}

/// Adds `grad` to a layer output's gradient so far (the first part is kept as it is).
fn accumulate<T: Float>(sum: &mut Option<Vec<T>>, grad: Vec<T>) {
    match sum {
        Some(sum) => sum.iter_mut().zip(&grad).for_each(|(s, &g)| *s += g),
        None => *sum = Some(grad),
    }
}

#[cfg(test)]
mod tests;
