//! Norms that stay exact for gradients far below f32's range.
//!
//! Squaring a gradient of 1e-30 underflows f32 long before the gradient itself does.
//! Squares of f32 values never leave f64's range, so f32 tensors are summed in f64
//! directly; f64 values whose squares could under- or overflow are divided by their
//! largest magnitude first: ‖g‖ = m·‖g/m‖ with m = max|g|. NaN and Inf are carried
//! through, never hidden. Tensors are read in place, without a copy.

use candle_core::{CpuStorage, DType, Result, Storage, Tensor};

/// f64 magnitudes whose squares stay comfortably inside f64's range.
const SAFE_F64: std::ops::RangeInclusive<f64> = 1e-150..=1e150;

/// The Euclidean (Frobenius) norm of any number of values.
pub fn scaled_norm(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let mut max_abs = 0.0f64;
    for v in values.clone() {
        if v.is_nan() {
            return f64::NAN;
        }
        max_abs = max_abs.max(v.abs());
    }
    if max_abs == 0.0 || max_abs.is_infinite() {
        return max_abs;
    }
    let sum: f64 = values.map(|v| (v / max_abs).powi(2)).sum();
    max_abs * sum.sqrt()
}

/// The norm of f32 values: squares summed in f64, where none can under- or overflow.
pub fn norm_f32(values: &[f32]) -> f64 {
    lane_sum(values, |v| v * v).sqrt()
}

/// How many running sums a long f64 sum keeps. A single running sum of floats must be
/// added in order and cannot be vectorised; eight fit one AVX-512 register, and four
/// registers' worth hide the latency of an addition (each waits for the one before it
/// in its lane).
pub(crate) const LANES: usize = 32;

/// The sum of `f` over `values`, in f64, kept in `LANES` running sums.
pub(crate) fn lane_sum<T: Copy + Into<f64>>(values: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut sums = [0.0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (sum, &v) in sums.iter_mut().zip(chunk) {
            *sum += f(v.into());
        }
    }
    let tail_sum: f64 = tail.iter().map(|&v| f(v.into())).sum();
    sums.iter().sum::<f64>() + tail_sum
}

/// The norm of f64 values, scaled where their squares would leave f64's range.
pub fn norm_f64(values: &[f64]) -> f64 {
    // A plain comparison (NaN never wins it) lets the compiler vectorise the pass.
    let max_abs = values
        .iter()
        .fold(0.0f64, |m, v| if v.abs() > m { v.abs() } else { m });
    if SAFE_F64.contains(&max_abs) {
        // NaN and Inf, if any, propagate through the sum.
        values.iter().map(|v| v * v).sum::<f64>().sqrt()
    } else {
        scaled_norm(values.iter().copied())
    }
}

/// A tensor's elements as they sit in memory.
pub enum HostSlice<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl HostSlice<'_> {
    pub fn norm(&self) -> f64 {
        match self {
            Self::F32(v) => norm_f32(v),
            Self::F64(v) => norm_f64(v),
        }
    }
}

/// Calls `f` with the elements of `tensor` in row-major order: in place for a
/// contiguous f32 or f64 tensor on the CPU, from a copy otherwise.
pub fn with_host_slice<R>(tensor: &Tensor, f: impl FnOnce(HostSlice<'_>) -> R) -> Result<R> {
    {
        let (storage, layout) = tensor.storage_and_layout();
        if let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
            match cpu {
                CpuStorage::F32(v) => return Ok(f(HostSlice::F32(&v[start..end]))),
                CpuStorage::F64(v) => return Ok(f(HostSlice::F64(&v[start..end]))),
                _ => {}
            }
        }
    }
    let copy = host_values(tensor)?;
    Ok(f(HostSlice::F64(&copy)))
}

/// The norm of all elements of a tensor of f32 or f64.
pub fn tensor_norm(tensor: &Tensor) -> Result<f64> {
    with_host_slice(tensor, |values| values.norm())
}

/// All elements of a tensor, row-major, as f64, in one transfer.
pub fn host_values(tensor: &Tensor) -> Result<Vec<f64>> {
    let flat = tensor.flatten_all()?;
    match flat.dtype() {
        DType::F64 => flat.to_vec1::<f64>(),
        DType::F32 => Ok(flat.to_vec1::<f32>()?.into_iter().map(f64::from).collect()),
        _ => flat.to_dtype(DType::F64)?.to_vec1::<f64>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pythagoras() {
        assert!((scaled_norm([3.0, 4.0].into_iter()) - 5.0).abs() < 1e-15);
    }

    #[test]
    fn tiny_f32_values_keep_their_norm() -> Result<()> {
        // Each square (1e-50) is far below f32's smallest subnormal (1.4e-45).
        let tensor = Tensor::new(&[3e-25f32, 4e-25], &candle_core::Device::Cpu)?;
        let norm = tensor_norm(&tensor)?;
        assert!((norm / 5e-25 - 1.0).abs() < 1e-6, "{norm}");
        Ok(())
    }

    #[test]
    fn tiny_f64_values_keep_their_norm() {
        // Squares of 1e-200 underflow even f64.
        let norm = scaled_norm([3e-200, 4e-200].into_iter());
        assert!((norm / 5e-200 - 1.0).abs() < 1e-12, "{norm}");
    }

    /// The fast paths agree with the scaled reference, also where it matters.
    #[test]
    fn fast_paths_match_the_scaled_norm() {
        let f32_values = [3e-25f32, -4e-25, 1.5e-45, 0.0];
        let reference = scaled_norm(f32_values.iter().map(|&v| f64::from(v)));
        assert!((norm_f32(&f32_values) / reference - 1.0).abs() < 1e-12);

        for scale in [1e-200, 1.0, 1e200] {
            let values = [3.0 * scale, -4.0 * scale, 0.0];
            assert!(
                (norm_f64(&values) / (5.0 * scale) - 1.0).abs() < 1e-12,
                "{scale}"
            );
        }
        assert!(norm_f64(&[1.0, f64::NAN]).is_nan());
        assert!(norm_f32(&[1.0, f32::NAN]).is_nan());
        assert_eq!(norm_f64(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert_eq!(norm_f32(&[1.0, f32::NEG_INFINITY]), f64::INFINITY);
        assert_eq!(norm_f32(&[0.0, 0.0]), 0.0);
    }

    #[test]
    fn strided_tensors_are_read_through_a_copy() -> Result<()> {
        let t = Tensor::new(&[[3f32, 1.0], [4.0, 1.0]], &candle_core::Device::Cpu)?;
        // The first column, a non-contiguous view.
        let column = t.narrow(1, 0, 1)?;
        assert!((tensor_norm(&column)? - 5.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn zero_nan_and_inf_are_reported_as_such() {
        assert_eq!(scaled_norm([0.0, 0.0].into_iter()), 0.0);
        assert!(scaled_norm([1.0, f64::NAN].into_iter()).is_nan());
        assert_eq!(
            scaled_norm([1.0, f64::NEG_INFINITY].into_iter()),
            f64::INFINITY
        );
        assert!(scaled_norm([f64::INFINITY, f64::NAN].into_iter()).is_nan());
    }
}
