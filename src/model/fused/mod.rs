//! Fused candle operations for the MLP's training step, each with its own backward:
//! a dense layer with its bias and activation in one pass, batch normalisation in
//! training mode, and a tap that keeps the gradient flowing through a tensor.
//!
//! candle's autograd runs every small operation as its own pass over memory with its
//! own allocation, and adds a zero tensor and an addition for each gradient it
//! accumulates. The ops here do the element-wise work of a layer in one or two passes
//! and hand the gradient of the layer's output to the probes directly, so that the
//! matrix products are most of a step.

mod batch_norm;
mod dense;
mod product;

use std::sync::{Arc, OnceLock};

use candle_core::{
    CpuStorage, CustomOp1, Device, Layout, Result, Shape, Storage, Tensor, WithDType,
};

use super::recurrence::Real;

pub use batch_norm::{BatchStats, batch_norm_train};
pub(crate) use batch_norm::{Stats, normalise};
pub use dense::dense;
pub(crate) use dense::{add_bias, column_sums};
pub use product::SPLIT_MIN_WORK;
pub(crate) use product::{Matrix, product};

use crate::config::Activation;

/// A slot that receives one tensor during a forward or backward pass.
pub type Slot = Arc<OnceLock<Tensor>>;

/// The activations computed inside a fused op: those whose forward and derivative are
/// a line each, with candle's conventions. Others run as
/// candle ops after a fused op with [`FusedActivation::Identity`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FusedActivation {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
}

impl FusedActivation {
    /// The fused form of `activation`, if there is one.
    pub fn of(activation: Activation) -> Option<Self> {
        match activation {
            Activation::Relu => Some(Self::Relu),
            Activation::Sigmoid => Some(Self::Sigmoid),
            Activation::Tanh => Some(Self::Tanh),
            _ => None,
        }
    }

    /// f(z): `max(z, 0)` as candle computes it, 1/(1 + e^(−z)) and tanh z.
    #[inline(always)]
    fn value<T: Float>(self, z: T) -> T {
        match self {
            Self::Identity => z,
            Self::Relu => z.max_zero(),
            Self::Sigmoid => z.sigmoid(),
            Self::Tanh => z.tanh(),
        }
    }

    /// ∂L/∂z from ∂L/∂a, the pre-activation z and the output a, with candle's
    /// conventions: ReLU passes the gradient where z ≥ 0; σ' = (1 − a)a; tanh' = 1 − a².
    #[inline(always)]
    fn backward<T: Float>(self, grad: T, z: T, a: T) -> T {
        match self {
            Self::Identity => grad,
            Self::Relu => grad * if z >= T::zero() { T::one() } else { T::zero() },
            Self::Sigmoid => grad * ((T::one() - a) * a),
            Self::Tanh => T::zero() - grad * (a * a - T::one()),
        }
    }
}

/// The element types the fused ops compute in: sigmoid and tanh are the recurrence's
/// vectorising forms, within a few units in the last place of the C library's.
pub trait Float: WithDType + std::ops::Neg<Output = Self> + crate::train::probes::Sample {
    fn sigmoid(self) -> Self;
    /// The Euclidean norm of `values`, as the probes take it (see `train::norm`).
    fn norm(values: &[Self]) -> f64;
    fn tanh(self) -> Self;
    fn max_zero(self) -> Self;
}

macro_rules! float {
    ($t:ty, $norm:path) => {
        impl Float for $t {
            fn norm(values: &[Self]) -> f64 {
                $norm(values)
            }
            fn sigmoid(self) -> Self {
                Real::sigmoid_fast(self)
            }
            fn tanh(self) -> Self {
                Real::tanh_fast(self)
            }
            fn max_zero(self) -> Self {
                self.max(0.0)
            }
        }
    };
}
float!(f32, crate::train::norm_f32);
float!(f64, crate::train::norm_f64);

/// Applies `activation` to `values` (`shape`), keeping `values` in `pre_activation`
/// unless the activation is the identity.
fn activate<T: Float>(
    activation: FusedActivation,
    values: Vec<T>,
    shape: impl Into<Shape>,
    pre_activation: &Slot,
) -> Result<CpuStorage> {
    if activation == FusedActivation::Identity {
        return Ok(T::to_cpu_storage_owned(values));
    }
    let a = apply(activation, &values);
    fill(
        pre_activation,
        Tensor::from_vec(values, shape, &Device::Cpu)?,
    )?;
    Ok(T::to_cpu_storage_owned(a))
}

/// f(z) for every element.
pub(crate) fn apply<T: Float>(activation: FusedActivation, values: &[T]) -> Vec<T> {
    // One loop per activation, each its own closure type and so its own compiled loop
    // with the match decided outside it: a closure taking the activation as an argument
    // is compiled once, with the match inside the loop, and does not vectorise.
    fn each<T: Copy>(values: &[T], f: impl Fn(T) -> T) -> Vec<T> {
        values.iter().map(|&v| f(v)).collect()
    }
    match activation {
        FusedActivation::Identity => values.to_vec(),
        FusedActivation::Relu => each(values, |v| FusedActivation::Relu.value(v)),
        FusedActivation::Sigmoid => each(values, |v| FusedActivation::Sigmoid.value(v)),
        FusedActivation::Tanh => each(values, |v| FusedActivation::Tanh.value(v)),
    }
}

/// The elements of a contiguous CPU storage under `layout`.
fn contiguous<'a, T: Float>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [T]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!(
            "fused op: a non-contiguous input of shape {:?}",
            layout.dims()
        )
    };
    Ok(&T::cpu_storage_as_slice(storage)?[start..end])
}

/// The rows of a row-major matrix `width` elements wide.
fn rows<T>(values: &[T], width: usize) -> std::slice::ChunksExact<'_, T> {
    values.chunks_exact(width)
}

/// Calls `f` with the elements of a contiguous CPU tensor.
pub(crate) fn with_slice<T: Float, R>(
    tensor: &Tensor,
    f: impl FnOnce(&[T]) -> Result<R>,
) -> Result<R> {
    let (storage, layout) = tensor.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("fused op: tensors must be on the CPU")
    };
    f(contiguous(cpu, layout)?)
}

/// ∂L/∂z for every element from ∂L/∂a, z and a (see [`FusedActivation::backward`]).
pub(crate) fn backward_all<T: Float>(
    activation: FusedActivation,
    grad: &[T],
    z: &[T],
    a: &[T],
) -> Vec<T> {
    // One loop per activation, as in `activate`.
    fn each<T: Copy>(grad: &[T], z: &[T], a: &[T], f: impl Fn(T, T, T) -> T) -> Vec<T> {
        grad.iter()
            .zip(z)
            .zip(a)
            .map(|((&g, &z), &a)| f(g, z, a))
            .collect()
    }
    match activation {
        FusedActivation::Identity => grad.to_vec(),
        FusedActivation::Relu => each(grad, z, a, |g, z, a| {
            FusedActivation::Relu.backward(g, z, a)
        }),
        FusedActivation::Sigmoid => each(grad, z, a, |g, z, a| {
            FusedActivation::Sigmoid.backward(g, z, a)
        }),
        FusedActivation::Tanh => each(grad, z, a, |g, z, a| {
            FusedActivation::Tanh.backward(g, z, a)
        }),
    }
}

/// Stores `tensor` in `slot`; a slot is filled once per pass.
fn fill(slot: &Slot, tensor: Tensor) -> Result<()> {
    slot.set(tensor)
        .map_err(|_| candle_core::Error::Msg("fused op: a slot was filled twice".into()))
}

/// An identity whose backward keeps the gradient passing through it: ∂L/∂h for a
/// tensor h that no fused op produced (after a residual addition or dropout).
pub struct Tap {
    grad: Slot,
}

/// Returns `h` unchanged (as a copy), and the slot that will hold ∂L/∂h after the
/// backward pass.
pub fn tap(h: &Tensor) -> Result<(Tensor, Slot)> {
    let grad = Slot::default();
    let out = h.apply_op1(Tap { grad: grad.clone() })?;
    Ok((out, grad))
}

impl CustomOp1 for Tap {
    fn name(&self) -> &'static str {
        "gradient-tap"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let copy = match storage {
            CpuStorage::F32(_) => f32::to_cpu_storage(contiguous::<f32>(storage, layout)?),
            CpuStorage::F64(_) => f64::to_cpu_storage(contiguous::<f64>(storage, layout)?),
            _ => candle_core::bail!("gradient tap: f32 or f64 only"),
        };
        Ok((copy, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        fill(&self.grad, grad.clone())?;
        Ok(Some(grad.clone()))
    }
}

#[cfg(test)]
mod tests;
