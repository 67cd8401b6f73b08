//! A dense layer, `a = f(h·W + b)`, as one candle op: the product, then the bias and
//! the activation in one pass; backward, ∂L/∂z and the bias gradient in one pass, then
//! the two products against the operands as they lie in memory (no transposed copy).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Device, Layout, Result, Shape, Tensor};

use super::{
    Float, FusedActivation, Slot, activate, backward_all, contiguous, fill, rows, with_slice,
};

/// What a dense layer gives back.
pub struct DenseOutput {
    /// f(h·W + b).
    pub output: Tensor,
    /// h·W + b (the output itself for the identity).
    pub pre_activation: Tensor,
    /// Filled with ∂L/∂output by the backward pass, when asked for.
    pub output_grad: Option<Slot>,
}

/// `activation(h·W + b)` for h of shape `batch × fan_in`, W of `fan_in × fan_out` and
/// b of `fan_out`. With `keep_output_grad`, the backward pass hands ∂L/∂output to
/// the returned slot.
pub fn dense(
    h: &Tensor,
    w: &Tensor,
    b: &Tensor,
    activation: FusedActivation,
    keep_output_grad: bool,
) -> Result<DenseOutput> {
    let op = Dense {
        activation,
        pre_activation: Slot::default(),
        output_grad: keep_output_grad.then(Slot::default),
    };
    let (pre_activation, output_grad) = (op.pre_activation.clone(), op.output_grad.clone());
    let output = h.apply_op3(w, b, op)?;
    let pre_activation = match pre_activation.get() {
        Some(z) => z.clone(),
        None => output.clone(),
    };
    Ok(DenseOutput {
        output,
        pre_activation,
        output_grad,
    })
}

struct Dense {
    activation: FusedActivation,
    /// h·W + b, kept for the backward pass and the probes (unless the identity).
    pre_activation: Slot,
    output_grad: Option<Slot>,
}

impl Dense {
    /// Adds the bias to the product `z` in place and applies the activation.
    fn finish<T: Float>(&self, mut z: Vec<T>, bias: &[T], shape: Shape) -> Result<CpuStorage> {
        add_bias(&mut z, bias);
        activate(self.activation, z, shape, &self.pre_activation)
    }

    /// ∂L/∂z and its column sums (the bias gradient) in one pass.
    fn grad_pre_activation<T: Float>(
        &self,
        grad: &Tensor,
        output: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (batch, cols) = grad.dims2()?;
        if self.activation == FusedActivation::Identity {
            let bias_grad = with_slice::<T, _>(grad, |g| Ok(column_sums(g, cols)))?;
            return Ok((
                grad.clone(),
                Tensor::from_vec(bias_grad, cols, &Device::Cpu)?,
            ));
        }
        let z = self.pre_activation.get().unwrap_or(output);
        let act = self.activation;
        let dz: Vec<T> = with_slice::<T, _>(grad, |g| {
            with_slice::<T, _>(z, |z| {
                with_slice::<T, _>(output, |a| Ok(backward_all(act, g, z, a)))
            })
        })?;
        let bias_grad = column_sums(&dz, cols);
        Ok((
            Tensor::from_vec(dz, (batch, cols), &Device::Cpu)?,
            Tensor::from_vec(bias_grad, cols, &Device::Cpu)?,
        ))
    }
}

/// Adds `bias` to every row of the row-major matrix `z`, `bias.len()` wide.
pub(crate) fn add_bias<T: Float>(z: &mut [T], bias: &[T]) {
    for row in z.chunks_exact_mut(bias.len().max(1)) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// The sum of each column of a row-major matrix `cols` wide, rows added in order.
pub(crate) fn column_sums<T: Float>(values: &[T], cols: usize) -> Vec<T> {
    let mut sums = vec![T::zero(); cols];
    for row in rows(values, cols) {
        for (sum, &v) in sums.iter_mut().zip(row) {
            *sum += v;
        }
    }
    sums
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn cpu_fwd(
        &self,
        h: &CpuStorage,
        h_layout: &Layout,
        w: &CpuStorage,
        w_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (&[batch, fan_in], &[w_rows, fan_out], &[b_len]) =
            (h_layout.dims(), w_layout.dims(), b_layout.dims())
        else {
            candle_core::bail!("dense: expected h, W of rank 2 and b of rank 1")
        };
        if w_rows != fan_in || b_len != fan_out {
            candle_core::bail!(
                "dense: h is {batch}×{fan_in}, W {w_rows}×{fan_out}, b {b_len}; they do not fit"
            )
        }
        let shape = Shape::from((batch, fan_out));
        let z = h.matmul(w, (1, batch, fan_out, fan_in), h_layout, w_layout)?;
        let out = match z {
            CpuStorage::F32(z) => self.finish(z, contiguous::<f32>(b, b_layout)?, shape.clone())?,
            CpuStorage::F64(z) => self.finish(z, contiguous::<f64>(b, b_layout)?, shape.clone())?,
            _ => candle_core::bail!("dense: f32 or f64 only"),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        h: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if let Some(slot) = &self.output_grad {
            fill(slot, grad.clone())?;
        }
        let grad = grad.contiguous()?;
        let (dz, bias_grad) = match grad.dtype() {
            candle_core::DType::F32 => self.grad_pre_activation::<f32>(&grad, output)?,
            _ => self.grad_pre_activation::<f64>(&grad, output)?,
        };
        let h_grad = dz.matmul(&w.t()?)?;
        let w_grad = h.t()?.matmul(&dz)?;
        Ok((Some(h_grad), Some(w_grad), Some(bias_grad)))
    }
}
