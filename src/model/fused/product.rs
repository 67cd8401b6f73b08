//! Matrix products into fresh vectors, by the same `gemm` call that candle's own product
//! makes for contiguous operands, without the zero fill of the destination that candle
//! does first, with a transposed operand read where it lies, and optionally in two
//! halves of rows on two threads.
//!
//! Splitting the rows changes no result: gemm sums each element over k in blocks whose
//! size depends on k and the caches only, so a row's value is the same bits whichever
//! rows are computed with it (tested below).
//!
//! This is the crate's one use of `unsafe`: `gemm` takes raw pointers and strides. The
//! [`Matrix`] constructor checks that a slice holds its rows × columns, and every call
//! checks that the operands and the destination fit before it reaches `gemm`.

use std::mem::MaybeUninit;

use candle_core::Result;

use super::Float;
use crate::parallel::{both, splitting};

/// Products with fewer multiply-adds than this stay on one thread.
pub const SPLIT_MIN_WORK: usize = 1 << 20;

/// A matrix in a slice, row-major as stored, read as it lies or transposed.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a, T> {
    values: &'a [T],
    /// The shape as read.
    rows: usize,
    cols: usize,
    /// Strides as read, in elements.
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> Matrix<'a, T> {
    /// `values` as a `rows × cols` row-major matrix; an error unless it holds exactly
    /// that many values.
    pub fn new(values: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        if rows.checked_mul(cols) != Some(values.len()) {
            candle_core::bail!(
                "product: {} values do not make a {rows}×{cols} matrix",
                values.len()
            )
        }
        Ok(Self {
            values,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        })
    }

    /// The transpose, without a copy.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Rows `start..end` as read (`start ≤ end ≤ rows`).
    fn row_range(self, start: usize, end: usize) -> Self {
        let offset = (start * self.row_stride).min(self.values.len());
        Self {
            values: &self.values[offset..],
            rows: end - start,
            ..self
        }
    }

    /// Whether every element as read lies inside the slice.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.values.len()
    }
}

/// `a · b` as a new row-major vector of `a`'s rows × `b`'s columns. With `split`, a
/// large product is computed inside a pool of two in two halves of rows side by side,
/// with the same result.
pub fn product<T: Float + Send + Sync>(
    a: Matrix<'_, T>,
    b: Matrix<'_, T>,
    split: bool,
) -> Result<Vec<T>> {
    let ((m, k), (k_b, n)) = ((a.rows, a.cols), (b.rows, b.cols));
    if k != k_b {
        candle_core::bail!("product: a {m}×{k} matrix times a {k_b}×{n} one")
    }
    let len = m * n;
    let mut out: Vec<T> = Vec::with_capacity(len);
    let dst = &mut out.spare_capacity_mut()[..len];
    if split && m >= 2 && m * n * k >= SPLIT_MIN_WORK && splitting() {
        let mid = m / 2;
        let (top, bottom) = dst.split_at_mut(mid * n);
        let (a_top, a_bottom) = (a.row_range(0, mid), a.row_range(mid, m));
        let (first, second) = both(
            || product_into(a_top, b, top),
            || product_into(a_bottom, b, bottom),
        );
        first?;
        second?;
    } else {
        product_into(a, b, dst)?;
    }
    // SAFETY: `product_into` returned Ok for every part of the first `len` elements,
    // so each of them has been written.
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(len);
    }
    Ok(out)
}

/// Writes `a · b` into `dst`, row-major, every element of it.
fn product_into<T: Float>(
    a: Matrix<'_, T>,
    b: Matrix<'_, T>,
    dst: &mut [MaybeUninit<T>],
) -> Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || dst.len() != m * n || !a.fits() || !b.fits() {
        candle_core::bail!(
            "product: a {m}×{k} matrix times a {}×{n} one into {} values",
            b.rows,
            dst.len()
        )
    }
    if dst.is_empty() {
        return Ok(());
    }
    if k == 0 {
        dst.fill(MaybeUninit::new(T::zero()));
        return Ok(());
    }
    // Strides fit isize: the elements they reach lie inside slices.
    let stride = |s: usize| s as isize;
    // SAFETY: `a` reads the elements at row·row_stride + col·col_stride for row < m,
    // col < k, all inside `a.values` by `fits` (the same for `b`, k × n); `dst` holds
    // m × n elements, written at row·n + col, every one exactly once because `read_dst`
    // is false (its uninitialised contents are never read) and k > 0. The call runs on
    // this thread (`Parallelism::None`) and returns before `dst` is used again.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<T>(),
            1,
            stride(n),
            false,
            a.values.as_ptr(),
            stride(a.col_stride),
            stride(a.row_stride),
            b.values.as_ptr(),
            stride(b.col_stride),
            stride(b.row_stride),
            T::zero(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    /// Small products by hand, in each orientation.
    #[test]
    fn products_by_hand() -> Result<()> {
        // a = [1 2 3; 4 5 6], b = [1 0; 0 1; 2 -1]
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0f32, 0.0, 0.0, 1.0, 2.0, -1.0];
        let (a, b) = (Matrix::new(&a, 2, 3)?, Matrix::new(&b, 3, 2)?);
        // a·b = [7 -1; 16 -1]
        assert_eq!(product(a, b, false)?, vec![7.0, -1.0, 16.0, -1.0]);
        // bᵀ·aᵀ = (a·b)ᵀ = [7 16; -1 -1]
        assert_eq!(product(b.t(), a.t(), false)?, vec![7.0, 16.0, -1.0, -1.0]);
        // aᵀ·a (3×3): columns of a dotted: [17 22 27; 22 29 36; 27 36 45]
        assert_eq!(
            product(a.t(), a, false)?,
            vec![17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]
        );
        // a·aᵀ (2×2): rows of a dotted: [14 32; 32 77]
        let a64 = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let a64 = Matrix::new(&a64, 2, 3)?;
        assert_eq!(product(a64, a64.t(), false)?, vec![14.0, 32.0, 32.0, 77.0]);
        Ok(())
    }

    #[test]
    fn operands_that_do_not_fit_are_refused() -> Result<()> {
        let values = [1.0f32; 6];
        assert!(Matrix::new(&values, 2, 2).is_err());
        let a = Matrix::new(&values, 2, 3)?;
        assert!(product(a, a, false).is_err());
        // An inner dimension of zero gives zeros.
        let empty: [f32; 0] = [];
        let (e1, e2) = (Matrix::new(&empty, 2, 0)?, Matrix::new(&empty, 0, 3)?);
        assert_eq!(product(e1, e2, false)?, vec![0.0; 6]);
        Ok(())
    }

    /// The same bits as candle's product of the same operands, transposed or not, at the
    /// sizes the MLP uses (which take gemm's blocked kernels, not its small-matrix path).
    #[test]
    fn same_bits_as_candles_product() -> Result<()> {
        let values = |len: usize, seed: u32| -> Vec<f32> {
            (0..len)
                .map(|i| {
                    ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5
                })
                .collect()
        };
        for (m, k, n) in [
            (67, 130, 45),
            (256, 256, 256),
            (128, 256, 256),
            (131, 700, 77),
        ] {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let (ta, tb) = (
                Tensor::from_slice(&a, (m, k), &Device::Cpu)?,
                Tensor::from_slice(&b, (k, n), &Device::Cpu)?,
            );
            let (ma, mb) = (Matrix::new(&a, m, k)?, Matrix::new(&b, k, n)?);
            let want = ta.matmul(&tb)?.flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(product(ma, mb, false)?, want, "{m}×{k}·{k}×{n}");
            // (a·b)ᵀ = bᵀ·aᵀ against candle's product of the transposed views.
            let want = tb.t()?.matmul(&ta.t()?)?.flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(
                product(mb.t(), ma.t(), false)?,
                want,
                "transposed {m}×{k}·{k}×{n}"
            );
            // aᵀ·(a·b) and (a·b)·bᵀ: the backward's two products.
            let ab = ta.matmul(&tb)?;
            let ab_values = ab.flatten_all()?.to_vec1::<f32>()?;
            let mab = Matrix::new(&ab_values, m, n)?;
            let want = ta.t()?.matmul(&ab)?.flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(product(ma.t(), mab, false)?, want, "aᵀ·ab {m}×{k}·{k}×{n}");
            let want = ab.matmul(&tb.t()?)?.flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(product(mab, mb.t(), false)?, want, "ab·bᵀ {m}×{k}·{k}×{n}");
        }
        Ok(())
    }

    /// Two halves of rows on two threads give the same bits as the whole product on
    /// one, for products whose k is below, at and above gemm's block of k, with either
    /// operand transposed.
    #[test]
    fn split_rows_give_the_same_bits() -> Result<()> {
        let pool = crate::parallel::ComputePool::with_threads(2);
        let values = |len: usize, seed: u64| -> Vec<f64> {
            let mut x = seed;
            (0..len)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
                })
                .collect()
        };
        for (m, k, n) in [(256, 256, 256), (131, 700, 77), (64, 2048, 96)] {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let (a32, b32): (Vec<f32>, Vec<f32>) = (
                a.iter().map(|&v| v as f32).collect(),
                b.iter().map(|&v| v as f32).collect(),
            );
            let (ma, mb) = (Matrix::new(&a32, m, k)?, Matrix::new(&b32, k, n)?);
            let whole = product(ma, mb, false)?;
            let halves = pool.run(|| product(ma, mb, true))?;
            assert_eq!(whole, halves, "{m}×{k}·{k}×{n}");
            // Transposed operands: (bᵀ·aᵀ) rows are b's columns.
            let whole = product(mb.t(), ma.t(), false)?;
            let halves = pool.run(|| product(mb.t(), ma.t(), true))?;
            assert_eq!(whole, halves, "transposed {m}×{k}·{k}×{n}");
            let (ma, mb) = (Matrix::new(&a, m, k)?, Matrix::new(&b, k, n)?);
            let whole = product(ma, mb, false)?;
            let halves = pool.run(|| product(ma, mb, true))?;
            assert_eq!(whole, halves, "f64 {m}×{k}·{k}×{n}");
        }
        Ok(())
    }
}
