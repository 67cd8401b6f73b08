//! Norms that stay exact for gradients far below f32's range.
//!
//! Squaring a gradient of 1e-30 underflows f32 long before the gradient itself does,
//! so norms are accumulated in f64 from values divided by their largest magnitude:
//! ‖g‖ = m·‖g/m‖ with m = max|g|. NaN and Inf are carried through, never hidden.

use candle_core::{DType, Result, Tensor};

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

/// The norm of all elements of a tensor of f32 or f64.
pub fn tensor_norm(tensor: &Tensor) -> Result<f64> {
    Ok(scaled_norm(host_values(tensor)?.into_iter()))
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
