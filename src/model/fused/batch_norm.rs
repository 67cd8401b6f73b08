//! Batch normalisation in training mode followed by an activation, as one candle op
//! with a hand-written backward (Ioffe & Szegedy 2015):
//!
//! x̂ = (u − μ)/√(σ² + ε), y = γ·x̂ + β, a = f(y), with μ and the biased σ² over the
//! batch; backward, with dy = f'(y)·da,
//! ∂L/∂β = Σ dy, ∂L/∂γ = Σ dy·x̂, ∂L/∂u = γ/(N√(σ² + ε)) · (N·dy − Σ dy − x̂·Σ dy·x̂).
//!
//! The statistics and the sums are accumulated in f64 whatever the tensors' type.

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, Device, Layout, Result, Shape, Tensor};

use super::{
    Float, FusedActivation, Slot, activate, backward_all, contiguous, fill, rows, with_slice,
};

/// The batch's mean and biased variance of each unit, shaped `1 × units`.
pub struct BatchStats {
    pub mean: Tensor,
    pub var: Tensor,
}

/// What a batch-norm layer gives back.
pub struct BatchNormOutput {
    /// f(γ·x̂ + β).
    pub output: Tensor,
    /// γ·x̂ + β (the output itself for the identity).
    pub pre_activation: Tensor,
    pub stats: BatchStats,
    /// Filled with ∂L/∂output by the backward pass, when asked for.
    pub output_grad: Option<Slot>,
}

/// Normalises `u` (`batch × units`) with the batch's statistics, scales by `gamma`,
/// shifts by `beta` and applies `activation`.
pub fn batch_norm_train(
    u: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    epsilon: f64,
    activation: FusedActivation,
    keep_output_grad: bool,
) -> Result<BatchNormOutput> {
    let op = BatchNormTrain {
        epsilon,
        activation,
        stats: Arc::default(),
        pre_activation: Slot::default(),
        output_grad: keep_output_grad.then(Slot::default),
    };
    let (stats, pre_activation, output_grad) = (
        op.stats.clone(),
        op.pre_activation.clone(),
        op.output_grad.clone(),
    );
    let output = u.contiguous()?.apply_op3(gamma, beta, op)?;
    let Some(stats) = stats.get() else {
        candle_core::bail!("batch norm: the forward pass left no statistics")
    };
    let units = stats.mean.len();
    let as_row = |v: &[f64]| Tensor::from_slice(v, (1, units), &Device::Cpu)?.to_dtype(u.dtype());
    Ok(BatchNormOutput {
        pre_activation: pre_activation.get().unwrap_or(&output).clone(),
        stats: BatchStats {
            mean: as_row(&stats.mean)?,
            var: as_row(&stats.var)?,
        },
        output,
        output_grad,
    })
}

/// Per-unit statistics of one batch, in f64.
pub(crate) struct Stats {
    pub(crate) mean: Vec<f64>,
    pub(crate) var: Vec<f64>,
    /// 1/√(σ² + ε).
    inv_std: Vec<f64>,
}

impl Stats {
    /// (∂L/∂u, ∂L/∂γ, ∂L/∂β) from dy = ∂L/∂y, the input u and γ; ∂L/∂u is written over
    /// dy. Plain index loops over rows, so that the compiler vectorises them.
    pub(crate) fn backward<T: Float>(
        &self,
        mut dy: Vec<T>,
        u: &[T],
        gamma: &[T],
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let units = gamma.len();
        let n = (u.len() / units.max(1)) as f64;
        let (mean, inv_std) = (&self.mean[..units], &self.inv_std[..units]);
        let mut sum_dy = vec![0.0f64; units];
        let mut sum_dy_xhat = vec![0.0f64; units];
        for (d, u) in rows(&dy, units).zip(rows(u, units)) {
            let (d, u) = (&d[..units], &u[..units]);
            for c in 0..units {
                let d = d[c].to_f64();
                sum_dy[c] += d;
                sum_dy_xhat[c] += d * (u[c].to_f64() - mean[c]) * inv_std[c];
            }
        }
        let factor: Vec<f64> = gamma
            .iter()
            .zip(inv_std)
            .map(|(g, inv)| g.to_f64() * inv / n)
            .collect();
        for (d, u) in dy.chunks_exact_mut(units).zip(rows(u, units)) {
            let (d, u) = (&mut d[..units], &u[..units]);
            for c in 0..units {
                let x_hat = (u[c].to_f64() - mean[c]) * inv_std[c];
                let du = factor[c] * (n * d[c].to_f64() - sum_dy[c] - x_hat * sum_dy_xhat[c]);
                d[c] = T::from_f64(du);
            }
        }
        let cast = |v: &[f64]| -> Vec<T> { v.iter().map(|&x| T::from_f64(x)).collect() };
        (dy, cast(&sum_dy_xhat), cast(&sum_dy))
    }
}

/// The batch's statistics of `u` (`batch × units`, `units` = γ's length, at least one
/// row) and y = γ·(u − μ)/√(σ² + ε) + β.
pub(crate) fn normalise<T: Float>(
    u: &[T],
    gamma: &[T],
    beta: &[T],
    epsilon: f64,
) -> (Stats, Vec<T>) {
    let units = gamma.len();
    let n = (u.len() / units.max(1)) as f64;
    let mut mean = vec![0.0f64; units];
    for row in u.chunks_exact(units) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v.to_f64();
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; units];
    for row in u.chunks_exact(units) {
        for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
            let d = v.to_f64() - m;
            *s += d * d;
        }
    }
    var.iter_mut().for_each(|s| *s /= n);
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();

    // y = (u − μ)·(γ/√(σ² + ε)) + β
    let scale: Vec<f64> = inv_std
        .iter()
        .zip(gamma)
        .map(|(s, g)| s * g.to_f64())
        .collect();
    let shift: Vec<f64> = beta.iter().map(|b| b.to_f64()).collect();
    // Each row extended by a zip of slices, which vectorises (a push per element does
    // not).
    let mut y = Vec::with_capacity(u.len());
    for row in u.chunks_exact(units) {
        y.extend(
            row.iter()
                .zip(&mean)
                .zip(&scale)
                .zip(&shift)
                .map(|(((&v, &m), &s), &b)| T::from_f64((v.to_f64() - m) * s + b)),
        );
    }
    (Stats { mean, var, inv_std }, y)
}

struct BatchNormTrain {
    epsilon: f64,
    activation: FusedActivation,
    stats: Arc<OnceLock<Stats>>,
    pre_activation: Slot,
    output_grad: Option<Slot>,
}

impl BatchNormTrain {
    fn forward<T: Float>(&self, u: &[T], gamma: &[T], beta: &[T]) -> Result<CpuStorage> {
        let (stats, y) = normalise(u, gamma, beta, self.epsilon);
        if self.stats.set(stats).is_err() {
            candle_core::bail!("batch norm: the op ran twice");
        }
        let batch = u.len() / gamma.len().max(1);
        activate(
            self.activation,
            y,
            (batch, gamma.len()),
            &self.pre_activation,
        )
    }

    /// (∂L/∂u, ∂L/∂γ, ∂L/∂β).
    fn backward<T: Float>(
        &self,
        u: &Tensor,
        gamma: &Tensor,
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let Some(stats) = self.stats.get() else {
            candle_core::bail!("batch norm: backward before forward")
        };
        let (batch, units) = u.dims2()?;
        let y = self.pre_activation.get().unwrap_or(output);
        let (u_grad, gamma_grad, beta_grad) = with_slice::<T, _>(u, |u| {
            with_slice::<T, _>(grad, |g| {
                with_slice::<T, _>(y, |y| {
                    with_slice::<T, _>(output, |a| {
                        with_slice::<T, _>(gamma, |gamma| {
                            let dy = backward_all(self.activation, g, y, a);
                            Ok(stats.backward(dy, u, gamma))
                        })
                    })
                })
            })
        })?;
        Ok((
            Tensor::from_vec(u_grad, (batch, units), &Device::Cpu)?,
            Tensor::from_vec(gamma_grad, units, &Device::Cpu)?,
            Tensor::from_vec(beta_grad, units, &Device::Cpu)?,
        ))
    }
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        u: &CpuStorage,
        u_layout: &Layout,
        gamma: &CpuStorage,
        gamma_layout: &Layout,
        beta: &CpuStorage,
        beta_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (&[batch, units], &[g_len], &[b_len]) =
            (u_layout.dims(), gamma_layout.dims(), beta_layout.dims())
        else {
            candle_core::bail!("batch norm: expected u of rank 2, γ and β of rank 1")
        };
        if g_len != units || b_len != units || batch == 0 {
            candle_core::bail!("batch norm: u is {batch}×{units}, γ {g_len}, β {b_len}")
        }
        let out = match u {
            CpuStorage::F32(_) => self.forward(
                contiguous::<f32>(u, u_layout)?,
                contiguous(gamma, gamma_layout)?,
                contiguous(beta, beta_layout)?,
            )?,
            CpuStorage::F64(_) => self.forward(
                contiguous::<f64>(u, u_layout)?,
                contiguous(gamma, gamma_layout)?,
                contiguous(beta, beta_layout)?,
            )?,
            _ => candle_core::bail!("batch norm: f32 or f64 only"),
        };
        Ok((out, u_layout.shape().clone()))
    }

    fn bwd(
        &self,
        u: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if let Some(slot) = &self.output_grad {
            fill(slot, grad.clone())?;
        }
        let grad = grad.contiguous()?;
        let gamma = gamma.contiguous()?;
        let (du, dgamma, dbeta) = match grad.dtype() {
            candle_core::DType::F32 => self.backward::<f32>(u, &gamma, output, &grad)?,
            _ => self.backward::<f64>(u, &gamma, output, &grad)?,
        };
        Ok((Some(du), Some(dgamma), Some(dbeta)))
    }
}
