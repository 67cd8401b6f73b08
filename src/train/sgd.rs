//! Plain SGD on an f32 weight, in place and in one pass, measuring as it goes the two
//! norms of the update ratio: ‖w_after − w_before‖ and ‖w_before‖.
//!
//! Element for element it is the arithmetic of the tensor form in
//! [`super::optim::OptimizerState::step`] (candle's `x·a + b` for each scaling, then the
//! subtraction), and the squares are summed in f64 in the order of
//! [`super::norm::norm_f32`], so both paths give the same bits.

use std::sync::Mutex;

use candle_core::{CpuStorage, InplaceOp2, Layout, Result, Tensor};

use super::norm::LANES;

/// The two norms of one parameter's update ratio.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UpdateNorms {
    /// ‖w_after − w_before‖.
    pub change: f64,
    /// ‖w_before‖.
    pub before: f64,
}

/// `w ← w − lr·(g + decay·w)` in place for a contiguous f32 `weight`; `None` (and no
/// change) for any other weight, which takes the tensor path.
pub fn sgd_in_place(
    weight: &Tensor,
    grad: &Tensor,
    lr: f64,
    decay: f64,
) -> Result<Option<UpdateNorms>> {
    if weight.dtype() != candle_core::DType::F32
        || grad.dtype() != candle_core::DType::F32
        || !weight.is_contiguous()
        || weight.dims() != grad.dims()
    {
        return Ok(None);
    }
    let grad = grad.contiguous()?;
    let op = SgdStep {
        lr,
        decay,
        norms: Mutex::default(),
    };
    weight.inplace_op2(&grad, &op)?;
    let norms = op
        .norms
        .lock()
        .map_err(|_| candle_core::Error::Msg("sgd: poisoned norms".into()))?;
    Ok(*norms)
}

struct SgdStep {
    lr: f64,
    decay: f64,
    norms: Mutex<Option<UpdateNorms>>,
}

impl SgdStep {
    fn update(&self, w: &mut [f32], g: &[f32]) -> UpdateNorms {
        let (lr, decay) = (self.lr as f32, self.decay as f32);
        let coupled = self.decay > 0.0;
        let mut change = [0.0f64; LANES];
        let mut before = [0.0f64; LANES];
        let step = |w: &mut f32, g: f32| -> (f64, f64) {
            let g = if coupled { g + (*w * decay + 0.0) } else { g };
            let next = *w - (g * lr + 0.0);
            let moved = f64::from(next - *w);
            let old = f64::from(*w);
            *w = next;
            (moved * moved, old * old)
        };
        let mut w_chunks = w.chunks_exact_mut(LANES);
        let mut g_chunks = g.chunks_exact(LANES);
        for (w8, g8) in (&mut w_chunks).zip(&mut g_chunks) {
            for (lane, (w, &g)) in w8.iter_mut().zip(g8).enumerate() {
                let (c, b) = step(w, g);
                change[lane] += c;
                before[lane] += b;
            }
        }
        let (mut change_tail, mut before_tail) = (0.0f64, 0.0f64);
        for (w, &g) in w_chunks
            .into_remainder()
            .iter_mut()
            .zip(g_chunks.remainder())
        {
            let (c, b) = step(w, g);
            change_tail += c;
            before_tail += b;
        }
        UpdateNorms {
            change: (change.iter().sum::<f64>() + change_tail).sqrt(),
            before: (before.iter().sum::<f64>() + before_tail).sqrt(),
        }
    }
}

impl InplaceOp2 for SgdStep {
    fn name(&self) -> &'static str {
        "sgd-in-place"
    }

    fn cpu_fwd(
        &self,
        weight: &mut CpuStorage,
        weight_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> Result<()> {
        let (Some((w0, w1)), Some((g0, g1))) = (
            weight_layout.contiguous_offsets(),
            grad_layout.contiguous_offsets(),
        ) else {
            candle_core::bail!("sgd: non-contiguous tensors")
        };
        let (CpuStorage::F32(w), CpuStorage::F32(g)) = (weight, grad) else {
            candle_core::bail!("sgd: f32 tensors only")
        };
        let norms = self.update(&mut w[w0..w1], &g[g0..g1]);
        *self
            .norms
            .lock()
            .map_err(|_| candle_core::Error::Msg("sgd: poisoned norms".into()))? = Some(norms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::train::norm::tensor_norm;

    /// The in-place step gives the same bits as the tensor form it replaces
    /// (`w − (g + w·decay)·lr`, then the norms of the difference and of the old
    /// weights), for lengths with and without a tail shorter than `LANES`.
    #[test]
    fn in_place_step_matches_the_tensor_form_bit_for_bit() -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (len, decay) in [
            (64usize, 0.0),
            (37, 0.0),
            (37, 0.01),
            (5, 0.5),
            (4100, 0.01),
        ] {
            let draw = |rng: &mut ChaCha8Rng, scale: f32| -> Vec<f32> {
                (0..len)
                    .map(|_| scale * rng.random_range(-1.0f32..1.0))
                    .collect()
            };
            let (w0, g) = (draw(&mut rng, 1.0), draw(&mut rng, 1e-3));
            let lr = 0.1;
            let weight = Var::from_slice(&w0, len, &Device::Cpu)?;
            let grad = Tensor::from_slice(&g, len, &Device::Cpu)?;

            let before = Tensor::from_slice(&w0, len, &Device::Cpu)?;
            let coupled = if decay > 0.0 {
                (&grad + (&before * decay)?)?
            } else {
                grad.clone()
            };
            let want = (&before - (coupled * lr)?)?;
            let want_change = tensor_norm(&(&want - &before)?)?;

            let Some(norms) = sgd_in_place(weight.as_tensor(), &grad, lr, decay)? else {
                panic!("an f32 weight takes the in-place path");
            };
            let got = weight.as_tensor().to_vec1::<f32>()?;
            let want = want.to_vec1::<f32>()?;
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{len}, {decay}"
            );
            assert_eq!(
                norms.change.to_bits(),
                want_change.to_bits(),
                "{len}, {decay}"
            );
            assert_eq!(norms.before.to_bits(), tensor_norm(&before)?.to_bits());
        }
        Ok(())
    }

    #[test]
    fn other_precisions_take_the_tensor_path() -> Result<()> {
        let weight = Var::new(&[1.0f64, 2.0], &Device::Cpu)?;
        let grad = Tensor::new(&[1.0f64, 2.0], &Device::Cpu)?;
        assert_eq!(sgd_in_place(weight.as_tensor(), &grad, 0.1, 0.0)?, None);
        assert_eq!(weight.as_tensor().to_vec1::<f64>()?, vec![1.0, 2.0]);
        Ok(())
    }
}
