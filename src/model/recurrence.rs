//! One recurrent layer's whole recurrence as a single candle op, with back-propagation
//! through time written by hand.
//!
//! Built from generic tensor ops, each time step of an LSTM costs some fifteen
//! allocations and passes forward and as many backward, and candle's graph walks all
//! of them; the gradients of the gate slices are even padded back to full width before
//! they are summed. Here the input side of every step is one matrix product over the
//! whole sequence, taken outside the op (`x·W_x + b`, rows time-major), and the op runs
//! the recurrence: per step one product `h_{t−1}·W_h` and one element-wise pass forward,
//! one element-wise pass and one product `δ·W_hᵀ` backward, and a single product for
//! ∂L/∂W_h at the end.
//!
//! The backward pass meets ∂L/∂h_t, the whole gradient reaching each hidden state (from
//! the layer above or the read-out, and through time from h_{t+1}), as it goes: it
//! records the norm of each in the layer's [`TimeGradients`], which is what the lab
//! shows across time.

use std::sync::{Arc, Mutex, PoisonError};

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp3, DType, Device, Error, Layout, Result, Shape, Storage, Tensor, WithDType,
};
use num_traits::Float;

use super::activation;
use crate::config::{Activation, ModelKind};
use crate::train::norm::{norm_f32, norm_f64};

/// The element types the recurrence runs in.
pub trait Real: WithDType + Float {
    /// The Euclidean norm of `values`, exact for values far below the type's range.
    fn norm(values: &[Self]) -> f64;

    /// e^x, as accurate as the type's own; for f32 in a form the compiler can vectorise.
    fn exp_fast(self) -> Self {
        self.exp()
    }

    /// tanh, as accurate as the type's own and cheaper where that is slow.
    fn tanh_fast(self) -> Self {
        self.tanh()
    }

    /// The logistic function 1/(1 + e^−x), as candle's `sigmoid` computes it.
    fn sigmoid_fast(self) -> Self {
        Self::one() / (Self::one() + (-self).exp_fast())
    }
}

impl Real for f32 {
    fn norm(values: &[Self]) -> f64 {
        norm_f32(values)
    }

    /// The C library's `tanhf` goes through `expm1f` and costs several times `expf`.
    /// Near zero, where 1 − 2/(e^{2x} + 1) would cancel, the Taylor series (its first
    /// omitted term is below 4e-9 of the result for |x| < 0.25); elsewhere that form,
    /// within a few units in the last place.
    fn tanh_fast(self) -> Self {
        let x = self;
        // Both branches are computed and one chosen, which vectorises.
        let x2 = x * x;
        let series = x + x
            * x2
            * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0))));
        let magnitude = 1.0 - 2.0 / ((2.0 * x.abs()).exp_fast() + 1.0);
        if x.abs() < 0.25 {
            series
        } else {
            magnitude.copysign(x)
        }
    }

    /// e^x = 2^n·e^r with n = round(x/ln 2) and |r| ≤ ln 2 / 2, e^r by its Taylor series
    /// to r⁷ (the first omitted term is below 6e-9 of the result), 2^n built from its
    /// bits in two halves so that results down to the subnormals keep their value. Within
    /// two units in the last place of the C library's `expf` over f32's whole range; NaN
    /// stays NaN, and overflow gives infinity.
    fn exp_fast(self) -> Self {
        const LN2_HI: f32 = 0.693_359_4;
        const LN2_LO: f32 = -2.121_944_4e-4;
        // Adding 1.5·2²³ rounds to the nearest integer, which then sits in the low bits:
        // no call to `roundf` (the baseline x86-64 target has no instruction for it) and
        // no float-to-integer conversion, so the whole function vectorises.
        const SHIFTER: f32 = 12_582_912.0;
        let x = self.clamp(-104.0, 89.0);
        let shifted = x * std::f32::consts::LOG2_E + SHIFTER;
        let n = shifted - SHIFTER;
        let r = (x - n * LN2_HI) - n * LN2_LO;
        let mut taylor = 1.0 / 5040.0;
        for coefficient in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            taylor = taylor * r + coefficient;
        }
        // n is within [−150, 128] (for NaN, r is NaN and so is the result whatever n is).
        let n = (shifted.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
        let half = n / 2;
        let power = |k: i32| f32::from_bits((k.wrapping_add(127) as u32) << 23);
        taylor * power(half) * power(n.wrapping_sub(half))
    }
}

impl Real for f64 {
    fn norm(values: &[Self]) -> f64 {
        norm_f64(values)
    }
}

/// What one layer's forward pass keeps, one `(T·batch) × H` tensor each, rows time-major.
#[derive(Clone, Debug)]
pub struct Saved {
    /// The input of the hidden nonlinearity: φ's for an RNN, the candidate's tanh for
    /// the LSTM (g) and the GRU (n).
    pub pre_activation: Tensor,
    /// The sigmoid gates: i, f, o for the LSTM; r, z for the GRU; none for an RNN.
    pub gates: Vec<Tensor>,
    /// The candidate after its tanh (LSTM g, GRU n); unused for an RNN.
    candidate: Tensor,
    /// The LSTM's cell states c_t; the GRU's recurrent product of the candidate
    /// block, (h_{t−1}·W_h)_n.
    extra: Tensor,
}

/// The norms of ∂L/∂h_t of one layer, one per time step, filled in by the backward pass.
#[derive(Clone, Debug, Default)]
pub struct TimeGradients(Arc<Mutex<Vec<f64>>>);

impl TimeGradients {
    /// ‖∂L/∂h_t‖ for t = 1…T; empty until a backward pass has run through the layer.
    pub fn norms(&self) -> Vec<f64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, norms: Vec<f64>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = norms;
    }
}

/// The recurrence of one layer: the layer's inputs `x` (`(T·batch) × inputs`, rows
/// time-major), its input weights with the bias as one more row (`(inputs + 1) ×
/// gates·H`) and `W_h` (`H × gates·H`) in, every hidden state (`(T·batch) × H`) out.
/// The sizes of one recurrent layer's unrolled computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unrolled {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
    /// Inputs per time step.
    pub inputs: usize,
}

#[derive(Clone, Debug)]
pub struct Recurrence {
    kind: ModelKind,
    activation: Activation,
    leaky_slope: f64,
    steps: usize,
    batch: usize,
    hidden: usize,
    inputs: usize,
    /// False for the first layer, whose inputs are data.
    input_grad: bool,
    saved: Arc<Mutex<Option<Saved>>>,
    gradients: TimeGradients,
}

impl Recurrence {
    /// A layer of `kind` of the given sizes; `input_grad` when its inputs need a
    /// gradient.
    pub fn new(
        kind: ModelKind,
        (activation, leaky_slope): (Activation, f64),
        size: Unrolled,
        input_grad: bool,
    ) -> Self {
        Self {
            kind,
            activation,
            leaky_slope,
            steps: size.steps,
            batch: size.batch,
            hidden: size.hidden,
            inputs: size.inputs,
            input_grad,
            saved: Arc::default(),
            gradients: TimeGradients::default(),
        }
    }

    /// Runs the layer on `x` with input weights `w_x`, bias `bias` and recurrent
    /// weights `w_h`.
    pub fn apply(&self, x: &Tensor, w_x: &Tensor, bias: &Tensor, w_h: &Tensor) -> Result<Tensor> {
        let w_xb = Tensor::cat(&[w_x, &bias.unsqueeze(0)?], 0)?;
        x.apply_op3(&w_xb, w_h, self.clone())
    }

    /// What the last forward pass kept.
    pub fn saved(&self) -> Result<Saved> {
        self.saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| Error::Msg("the recurrence has not run forward".into()))
    }

    /// Where the backward pass leaves the norms of ∂L/∂h_t.
    pub fn gradients(&self) -> TimeGradients {
        self.gradients.clone()
    }

    fn blocks(&self) -> usize {
        super::num_blocks(self.kind)
    }

    /// The input products of every step at once, `x·W_x` (without the bias).
    fn input_products(
        &self,
        x: (&CpuStorage, &Layout),
        w_xb: (&CpuStorage, &Layout),
    ) -> Result<CpuStorage> {
        let width = self.blocks() * self.hidden;
        let rows = self.steps * self.batch;
        let (inputs, w_x) = (x.1.dims(), w_xb.1.dims());
        if inputs != [rows, self.inputs] || w_x != [self.inputs + 1, width] {
            return Err(Error::Msg(format!(
                "recurrence: expected {rows}×{} inputs and {}×{width} input weights, got {inputs:?} and {w_x:?}",
                self.inputs,
                self.inputs + 1
            )));
        }
        let w_x = w_xb.1.narrow(0, 0, self.inputs)?;
        x.0.matmul(w_xb.0, (1, rows, width, self.inputs), x.1, &w_x)
    }

    fn forward<T: Real>(&self, xw: &[T], w_xb: &[T], w_h: &[T]) -> Result<Vec<T>> {
        let (steps, batch, hidden) = (self.steps, self.batch, self.hidden);
        let width = self.blocks() * hidden;
        let rows = steps * batch;
        if w_h.len() != hidden * width {
            return Err(Error::Msg(format!(
                "recurrence: expected {hidden}×{width} recurrent weights, got {} values",
                w_h.len()
            )));
        }
        let bias = &w_xb[self.inputs * width..];
        let w_h = Tensor::from_slice(w_h, (hidden, width), &Device::Cpu)?;
        let size = rows * hidden;
        let step = batch * hidden;
        let gated = self.kind != ModelKind::Rnn;
        let mut states = vec![T::zero(); size];
        let mut pre = vec![T::zero(); size];
        let mut candidate = vec![T::zero(); if gated { size } else { 0 }];
        let mut extra = candidate.clone();
        // The sigmoid gates, one after another: i, f, o or r, z.
        let num_gates = self.blocks().saturating_sub(1);
        let mut gates = vec![vec![T::zero(); size]; num_gates];
        let zero_products = vec![T::zero(); batch * width];
        let zero_state = vec![T::zero(); hidden];
        let mut a = vec![T::zero(); width];

        for t in 0..steps {
            let start = t * step;
            // The recurrent product; h_0 = 0 needs none.
            let product = match t {
                0 => None,
                _ => Some(
                    Tensor::from_slice(
                        &states[start - step..start],
                        (batch, hidden),
                        &Device::Cpu,
                    )?
                    .matmul(&w_h)?,
                ),
            };
            with_slice(product.as_ref(), &zero_products, |products: &[T]| {
                let (states_before, states_now) = states.split_at_mut(start);
                let (extra_before, extra_now) = extra.split_at_mut(if gated { start } else { 0 });
                let mut gate_rows = gates.iter_mut().map(|g| &mut g[start..start + step]);
                let gate_a = gate_rows.next().unwrap_or_default();
                let gate_b = gate_rows.next().unwrap_or_default();
                let gate_c = gate_rows.next().unwrap_or_default();
                for b in 0..batch {
                    let x_row = &xw[(t * batch + b) * width..][..width];
                    let h_row = &products[b * width..][..width];
                    for (((a, &x), &bias), &h) in a.iter_mut().zip(x_row).zip(bias).zip(h_row) {
                        *a = (x + bias) + h;
                    }
                    let row = b * hidden..(b + 1) * hidden;
                    let h_out = &mut states_now[row.clone()];
                    let pre_out = &mut pre[start..start + step][row.clone()];
                    match self.kind {
                        ModelKind::Lstm => {
                            let c_prev = match t {
                                0 => &zero_state[..],
                                _ => &extra_before[start - step..][row.clone()],
                            };
                            let c_out = &mut extra_now[row.clone()];
                            let g_out = &mut candidate[start..start + step][row.clone()];
                            let (i_out, f_out, o_out) = (
                                &mut gate_a[row.clone()],
                                &mut gate_b[row.clone()],
                                &mut gate_c[row.clone()],
                            );
                            let (a_i, rest) = a.split_at(hidden);
                            let (a_f, rest) = rest.split_at(hidden);
                            let (a_g, a_o) = rest.split_at(hidden);
                            for j in 0..hidden {
                                let (i, f, o) = (
                                    a_i[j].sigmoid_fast(),
                                    a_f[j].sigmoid_fast(),
                                    a_o[j].sigmoid_fast(),
                                );
                                let g = a_g[j].tanh_fast();
                                let c = f * c_prev[j] + i * g;
                                h_out[j] = o * c.tanh_fast();
                                pre_out[j] = a_g[j];
                                g_out[j] = g;
                                c_out[j] = c;
                                i_out[j] = i;
                                f_out[j] = f;
                                o_out[j] = o;
                            }
                        }
                        ModelKind::Gru => {
                            let h_prev = match t {
                                0 => &zero_state[..],
                                _ => &states_before[start - step..][row.clone()],
                            };
                            let hp_out = &mut extra_now[row.clone()];
                            let n_out = &mut candidate[start..start + step][row.clone()];
                            let (r_out, z_out) =
                                (&mut gate_a[row.clone()], &mut gate_b[row.clone()]);
                            let x_n = &x_row[2 * hidden..];
                            let b_n = &bias[2 * hidden..];
                            let h_n = &h_row[2 * hidden..];
                            for j in 0..hidden {
                                let (r, z) = (a[j].sigmoid_fast(), a[hidden + j].sigmoid_fast());
                                let n_in = (x_n[j] + b_n[j]) + r * h_n[j];
                                let n = n_in.tanh_fast();
                                h_out[j] = n + z * (h_prev[j] - n);
                                pre_out[j] = n_in;
                                n_out[j] = n;
                                hp_out[j] = h_n[j];
                                r_out[j] = r;
                                z_out[j] = z;
                            }
                        }
                        ModelKind::Rnn | ModelKind::Mlp => {
                            for ((h, p), &a) in
                                h_out.iter_mut().zip(pre_out.iter_mut()).zip(&a[..hidden])
                            {
                                *p = a;
                                *h = self.phi(a);
                            }
                        }
                    }
                }
            })?;
        }

        let tensor = |values: Vec<T>| Tensor::from_vec(values, (rows, hidden), &Device::Cpu);
        let rows_of = |values: Vec<T>| {
            if values.is_empty() {
                Tensor::zeros((0, hidden), T::DTYPE, &Device::Cpu)
            } else {
                tensor(values)
            }
        };
        let saved = Saved {
            pre_activation: tensor(pre)?,
            gates: gates.into_iter().map(tensor).collect::<Result<_>>()?,
            candidate: rows_of(candidate)?,
            extra: rows_of(extra)?,
        };
        *self.saved.lock().unwrap_or_else(PoisonError::into_inner) = Some(saved);
        Ok(states)
    }

    /// φ of an RNN, in the element type.
    fn phi<T: Real>(&self, a: T) -> T {
        match self.activation {
            Activation::Tanh => a.tanh_fast(),
            Activation::Relu => Float::max(a, T::zero()),
            Activation::Sigmoid => a.sigmoid_fast(),
            other => <T as WithDType>::from_f64(activation::value(
                other,
                WithDType::to_f64(a),
                self.leaky_slope,
            )),
        }
    }

    /// φ′ of an RNN at pre-activation `a`, whose output is `y`.
    fn phi_prime<T: Real>(&self, a: T, y: T) -> T {
        match self.activation {
            Activation::Tanh => T::one() - y * y,
            Activation::Relu => {
                if a > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::Sigmoid => y * (T::one() - y),
            other => <T as WithDType>::from_f64(activation::derivative(
                other,
                WithDType::to_f64(a),
                self.leaky_slope,
            )),
        }
    }

    /// Back-propagation through time. Returns ∂L/∂(x·W_x), ∂L/∂W_h and ∂L/∂b (a row),
    /// and records ‖∂L/∂h_t‖.
    fn backward<T: Real>(
        &self,
        states: &[T],
        w_h: &Tensor,
        grad_states: &[T],
        saved: &Saved,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (steps, batch, hidden) = (self.steps, self.batch, self.hidden);
        let width = self.blocks() * hidden;
        let block = batch * hidden;
        let w_h_t = w_h.detach().t()?.contiguous()?;
        let guards: Vec<_> = [&saved.pre_activation, &saved.candidate, &saved.extra]
            .into_iter()
            .chain(&saved.gates)
            .map(Tensor::storage_and_layout)
            .collect();
        let kept = guards
            .iter()
            .map(|(storage, layout)| cpu_slice::<T>(storage, layout))
            .collect::<Result<Vec<_>>>()?;
        let (pre, candidate, extra, gates) = (kept[0], kept[1], kept[2], &kept[3..]);

        // ∂L/∂xw, and for the GRU (whose candidate block sees r⊙(h·W_h)) ∂L/∂(h·W_h).
        let mut d_x = vec![T::zero(); steps * batch * width];
        let mut d_hp = if self.kind == ModelKind::Gru {
            d_x.clone()
        } else {
            Vec::new()
        };
        let mut norms = vec![0.0; steps];
        // What flows into h_t and c_t from step t + 1.
        let mut d_h_next = vec![T::zero(); block];
        let mut d_c_next = vec![T::zero(); block];
        let mut d_h = vec![T::zero(); block];
        let zero_state = vec![T::zero(); hidden];
        let one = T::one();

        for t in (0..steps).rev() {
            let base = t * block;
            for (k, d) in d_h.iter_mut().enumerate() {
                *d = grad_states[base + k] + d_h_next[k];
            }
            norms[t] = T::norm(&d_h);
            for b in 0..batch {
                let row = (t * batch + b) * width;
                let cells = base + b * hidden..base + (b + 1) * hidden;
                let previous = match t {
                    0 => None,
                    _ => Some(cells.start - block..cells.end - block),
                };
                let local = b * hidden..(b + 1) * hidden;
                let dh = &d_h[local.clone()];
                let (dx_a, rest) = d_x[row..row + width].split_at_mut(hidden);
                // An RNN has one block only.
                let (dx_b, dx_rest) = rest.split_at_mut(hidden.min(rest.len()));
                match self.kind {
                    ModelKind::Lstm => {
                        let (gi, gf, go) = (
                            &gates[0][cells.clone()],
                            &gates[1][cells.clone()],
                            &gates[2][cells.clone()],
                        );
                        let (g, c) = (&candidate[cells.clone()], &extra[cells.clone()]);
                        let c_prev = previous.map_or(&zero_state[..], |p| &extra[p]);
                        let dc_next = &mut d_c_next[local];
                        let (dx_g, dx_o) = dx_rest.split_at_mut(hidden);
                        for j in 0..hidden {
                            let (i, f, o) = (gi[j], gf[j], go[j]);
                            let tc = c[j].tanh_fast();
                            let dc = dh[j] * o * (one - tc * tc) + dc_next[j];
                            dc_next[j] = dc * f;
                            dx_a[j] = dc * g[j] * i * (one - i);
                            dx_b[j] = dc * c_prev[j] * f * (one - f);
                            dx_g[j] = dc * i * (one - g[j] * g[j]);
                            dx_o[j] = dh[j] * tc * o * (one - o);
                        }
                    }
                    ModelKind::Gru => {
                        let (gr, gz) = (&gates[0][cells.clone()], &gates[1][cells.clone()]);
                        let (n, hp_n) = (&candidate[cells.clone()], &extra[cells.clone()]);
                        let h_prev = previous.map_or(&zero_state[..], |p| &states[p]);
                        let (hp_a, rest) = d_hp[row..row + width].split_at_mut(hidden);
                        let (hp_b, hp_c) = rest.split_at_mut(hidden);
                        let direct = &mut d_h_next[local];
                        for j in 0..hidden {
                            let (r, z) = (gr[j], gz[j]);
                            let dn_in = dh[j] * (one - z) * (one - n[j] * n[j]);
                            let da_r = dn_in * hp_n[j] * r * (one - r);
                            let da_z = dh[j] * (h_prev[j] - n[j]) * z * (one - z);
                            dx_a[j] = da_r;
                            dx_b[j] = da_z;
                            dx_rest[j] = dn_in;
                            hp_a[j] = da_r;
                            hp_b[j] = da_z;
                            hp_c[j] = dn_in * r;
                            // The direct path h_t = … + z⊙h_{t−1}.
                            direct[j] = dh[j] * z;
                        }
                    }
                    ModelKind::Rnn | ModelKind::Mlp => {
                        let (a, y) = (&pre[cells.clone()], &states[cells]);
                        for j in 0..hidden {
                            dx_a[j] = dh[j] * self.phi_prime(a[j], y[j]);
                        }
                    }
                }
            }
            if self.kind != ModelKind::Gru {
                d_h_next.fill(T::zero());
            }
            if t > 0 {
                let d_product = if self.kind == ModelKind::Gru {
                    &d_hp
                } else {
                    &d_x
                };
                let span = t * batch * width..(t + 1) * batch * width;
                let back = Tensor::from_slice(&d_product[span], (batch, width), &Device::Cpu)?
                    .matmul(&w_h_t)?;
                with_slice(Some(&back), &[], |back: &[T]| {
                    for (next, &v) in d_h_next.iter_mut().zip(back) {
                        *next += v;
                    }
                })?;
            }
        }
        self.gradients.set(norms);

        // ∂L/∂W_h = Σ_t h_{t−1}ᵀ·δ_t, one product over all steps (h_0 = 0 adds nothing).
        let d_product = if self.kind == ModelKind::Gru {
            &d_hp
        } else {
            &d_x
        };
        let d_w_h = if steps > 1 {
            let previous = Tensor::from_slice(
                &states[..(steps - 1) * block],
                ((steps - 1) * batch, hidden),
                &Device::Cpu,
            )?;
            let later = Tensor::from_slice(
                &d_product[batch * width..],
                ((steps - 1) * batch, width),
                &Device::Cpu,
            )?;
            previous.t()?.matmul(&later)?
        } else {
            Tensor::zeros((hidden, width), T::DTYPE, &Device::Cpu)?
        };
        let mut d_bias = vec![T::zero(); width];
        for row in d_x.chunks_exact(width) {
            for (sum, &d) in d_bias.iter_mut().zip(row) {
                *sum += d;
            }
        }
        let d_bias = Tensor::from_vec(d_bias, (1, width), &Device::Cpu)?;
        let d_xw = Tensor::from_vec(d_x, (steps * batch, width), &Device::Cpu)?;
        Ok((d_xw, d_w_h, d_bias))
    }
}

impl CustomOp3 for Recurrence {
    fn name(&self) -> &'static str {
        "recurrence"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let shape = Shape::from((self.steps * self.batch, self.hidden));
        let xw = self.input_products((s1, l1), (s2, l2))?;
        let storage = match (&xw, s2, s3) {
            (CpuStorage::F32(xw), CpuStorage::F32(w_xb), CpuStorage::F32(w_h)) => {
                CpuStorage::F32(self.forward(xw, contiguous(w_xb, l2)?, contiguous(w_h, l3)?)?)
            }
            (CpuStorage::F64(xw), CpuStorage::F64(w_xb), CpuStorage::F64(w_h)) => {
                CpuStorage::F64(self.forward(xw, contiguous(w_xb, l2)?, contiguous(w_h, l3)?)?)
            }
            _ => {
                return Err(Error::Msg(
                    "recurrence: inputs and weights must all be f32 or all f64".into(),
                ));
            }
        };
        Ok((storage, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w_xb: &Tensor,
        w_h: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let saved = self.saved()?;
        let grad_res = grad_res.contiguous()?;
        let (d_xw, d_w_h, d_bias) = {
            let (states, states_layout) = res.storage_and_layout();
            let (grads, grads_layout) = grad_res.storage_and_layout();
            match res.dtype() {
                DType::F32 => self.backward(
                    cpu_slice::<f32>(&states, states_layout)?,
                    w_h,
                    cpu_slice::<f32>(&grads, grads_layout)?,
                    &saved,
                )?,
                DType::F64 => self.backward(
                    cpu_slice::<f64>(&states, states_layout)?,
                    w_h,
                    cpu_slice::<f64>(&grads, grads_layout)?,
                    &saved,
                )?,
                other => {
                    return Err(Error::Msg(format!(
                        "recurrence: runs in f32 or f64, got {other:?}"
                    )));
                }
            }
        };
        let x = x.detach();
        let d_w_x = x.t()?.matmul(&d_xw)?;
        let d_w_xb = Tensor::cat(&[&d_w_x, &d_bias], 0)?;
        let d_x = if self.input_grad {
            let w_x = w_xb.detach().narrow(0, 0, self.inputs)?;
            Some(d_xw.matmul(&w_x.t()?)?)
        } else {
            None
        };
        Ok((d_x, Some(d_w_xb), Some(d_w_h)))
    }
}

/// The values of a contiguous storage.
fn contiguous<'a, T>(values: &'a [T], layout: &Layout) -> Result<&'a [T]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| Error::Msg("recurrence: inputs must be contiguous".into()))?;
    Ok(&values[start..end])
}

/// The values of a contiguous CPU tensor, in place.
fn cpu_slice<'a, T: Real>(storage: &'a Storage, layout: &Layout) -> Result<&'a [T]> {
    let Storage::Cpu(cpu) = storage else {
        return Err(Error::Msg("recurrence: runs on the CPU".into()));
    };
    contiguous(cpu.as_slice::<T>()?, layout)
}

/// Calls `f` with the values of a contiguous CPU tensor in place, or with `default`
/// when there is no tensor.
fn with_slice<T: Real, R>(
    tensor: Option<&Tensor>,
    default: &[T],
    f: impl FnOnce(&[T]) -> R,
) -> Result<R> {
    let Some(tensor) = tensor else {
        return Ok(f(default));
    };
    let (storage, layout) = tensor.storage_and_layout();
    Ok(f(cpu_slice(&storage, layout)?))
}

#[cfg(test)]
mod tests {
    use candle_core::Var;

    use super::*;

    /// Dense samples of f32 over `lo..hi`, plus a few that matter.
    fn samples(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
        let count = 200_001;
        (0..count)
            .map(move |i| lo + (hi - lo) * i as f32 / (count - 1) as f32)
            .chain([0.0, -0.0, 1e-30, -1e-30, 0.25, -0.25, 0.2499999])
    }

    /// |approx − exact| over |exact|, with the exact value rounded to f32 first.
    fn relative_error(approx: f32, exact: f64) -> f64 {
        let exact = f64::from(exact as f32);
        if exact == 0.0 {
            f64::from(approx).abs()
        } else {
            ((f64::from(approx) - exact) / exact).abs()
        }
    }

    #[test]
    fn exp_is_within_a_few_ulp_over_the_range_of_f32() {
        // Three units in the last place of f32 are 3·2⁻²³ ≈ 3.6e-7 relative.
        for x in samples(-87.3, 88.7) {
            let error = relative_error(x.exp_fast(), f64::from(x).exp());
            assert!(error < 3.6e-7, "e^{x}: relative error {error:e}");
        }
        // Subnormal results: within two of the smallest subnormal.
        for x in samples(-103.0, -87.4) {
            let (approx, exact) = (f64::from(x.exp_fast()), f64::from(x).exp());
            assert!(
                (approx - exact).abs() <= 2.0 * 1.4e-45 + 4e-7 * exact,
                "e^{x}"
            );
        }
        assert_eq!(88.8f32.exp_fast(), f32::INFINITY);
        assert_eq!(1e30f32.exp_fast(), f32::INFINITY);
        assert_eq!((-1e30f32).exp_fast(), 0.0);
        assert!(f32::NAN.exp_fast().is_nan());
    }

    #[test]
    fn tanh_and_sigmoid_are_within_a_few_ulp() {
        for x in samples(-20.0, 20.0) {
            let exact = f64::from(x).tanh();
            let error = relative_error(x.tanh_fast(), exact);
            assert!(error < 4e-7, "tanh {x}: relative error {error:e}");
            let logistic = 1.0 / (1.0 + (-f64::from(x)).exp());
            let error = relative_error(x.sigmoid_fast(), logistic);
            assert!(error < 4e-7, "σ({x}): relative error {error:e}");
        }
        assert_eq!(1e30f32.tanh_fast(), 1.0);
        assert_eq!((-1e30f32).tanh_fast(), -1.0);
        assert!(f32::NAN.tanh_fast().is_nan());
        assert!(f32::NAN.sigmoid_fast().is_nan());
    }

    /// One layer built from candle's generic ops, one time step at a time, with a zero
    /// probe added to each hidden state so that its gradient is ∂L/∂h_t: the
    /// composition the op replaces.
    fn composed(
        kind: ModelKind,
        activation: Activation,
        (steps, batch, hidden): (usize, usize, usize),
        x: &Tensor,
        (w_x, bias, w_h): (&Tensor, &Tensor, &Tensor),
        probes: &[Var],
    ) -> Result<Tensor> {
        let one = |t: &Tensor| t.ones_like();
        let sigmoid = |t: &Tensor| one(t)? / (one(t)? + t.neg()?.exp()?)?;
        let mut h = Tensor::zeros((batch, hidden), x.dtype(), &Device::Cpu)?;
        let mut c = h.clone();
        let mut states = Vec::new();
        for (t, probe) in probes.iter().enumerate().take(steps) {
            let input = x.narrow(0, t * batch, batch)?;
            let x_part = input.matmul(w_x)?.broadcast_add(bias)?;
            let h_part = h.matmul(w_h)?;
            let a = (&x_part + &h_part)?;
            let block = |t: &Tensor, k: usize| t.narrow(1, k * hidden, hidden);
            let next = match kind {
                ModelKind::Lstm => {
                    let (i, f, o) = (
                        sigmoid(&block(&a, 0)?)?,
                        sigmoid(&block(&a, 1)?)?,
                        sigmoid(&block(&a, 3)?)?,
                    );
                    c = ((f * &c)? + (i * block(&a, 2)?.tanh()?)?)?;
                    (o * c.tanh()?)?
                }
                ModelKind::Gru => {
                    let (r, z) = (sigmoid(&block(&a, 0)?)?, sigmoid(&block(&a, 1)?)?);
                    let n = (block(&x_part, 2)? + (r * block(&h_part, 2)?)?)?.tanh()?;
                    (&n + (z * (&h - &n)?)?)?
                }
                _ => super::super::apply_activation(&a, activation, 0.01, None)?,
            };
            h = (next + probe.as_tensor())?;
            states.push(h.clone());
        }
        Tensor::cat(&states, 0)
    }

    /// Uniform values in (−scale, scale) from a fixed sequence.
    fn values(count: usize, scale: f64, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                scale * (2.0 * (state >> 11) as f64 / (1u64 << 53) as f64 - 1.0)
            })
            .collect()
    }

    /// The largest difference between two tensors over the largest magnitude of `b`.
    fn difference(a: &Tensor, b: &Tensor) -> Result<f64> {
        let a = a.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        let b = b.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        let scale = b.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
        Ok(a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
            / scale)
    }

    #[test]
    fn the_op_matches_the_composition_of_generic_ops_in_values_and_gradients() -> Result<()> {
        let (steps, batch, hidden, inputs) = (6, 3, 5, 4);
        let cases = [
            (ModelKind::Rnn, Activation::Tanh),
            (ModelKind::Rnn, Activation::Relu),
            (ModelKind::Rnn, Activation::Sigmoid),
            (ModelKind::Rnn, Activation::Elu),
            (ModelKind::Rnn, Activation::LeakyRelu),
            (ModelKind::Lstm, Activation::Tanh),
            (ModelKind::Gru, Activation::Tanh),
        ];
        // f64 agrees to rounding; f32 to a few units in its last place, over a chain
        // of six steps.
        for (dtype, tolerance) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
            for (seed, &(kind, activation)) in cases.iter().enumerate() {
                let width = super::super::num_blocks(kind) * hidden;
                let seed = seed as u64 * 10;
                let tensor = |count: usize, scale: f64, seed: u64, shape: (usize, usize)| {
                    Tensor::from_vec(values(count, scale, seed), shape, &Device::Cpu)?
                        .to_dtype(dtype)
                };
                let x = Var::from_tensor(&tensor(
                    steps * batch * inputs,
                    1.5,
                    seed + 1,
                    (steps * batch, inputs),
                )?)?;
                let w_x =
                    Var::from_tensor(&tensor(inputs * width, 0.8, seed + 2, (inputs, width))?)?;
                let bias =
                    Var::from_tensor(&tensor(width, 0.5, seed + 3, (1, width))?.flatten_all()?)?;
                let w_h =
                    Var::from_tensor(&tensor(hidden * width, 0.9, seed + 4, (hidden, width))?)?;
                // The loss weighs every state, so that every step's gradient differs.
                let weights = tensor(
                    steps * batch * hidden,
                    1.0,
                    seed + 5,
                    (steps * batch, hidden),
                )?;

                let size = Unrolled {
                    steps,
                    batch,
                    hidden,
                    inputs,
                };
                let op = Recurrence::new(kind, (activation, 0.01), size, true);
                let fused = op.apply(
                    x.as_tensor(),
                    w_x.as_tensor(),
                    bias.as_tensor(),
                    w_h.as_tensor(),
                )?;
                let fused_grads = (&fused * &weights)?.sum_all()?.backward()?;

                let probes = (0..steps)
                    .map(|_| Var::zeros((batch, hidden), dtype, &Device::Cpu))
                    .collect::<Result<Vec<_>>>()?;
                let reference = composed(
                    kind,
                    activation,
                    (steps, batch, hidden),
                    x.as_tensor(),
                    (w_x.as_tensor(), bias.as_tensor(), w_h.as_tensor()),
                    &probes,
                )?;
                let reference_grads = (&reference * &weights)?.sum_all()?.backward()?;

                let label = format!("{kind:?} {activation:?} {dtype:?}");
                let states = difference(&fused, &reference)?;
                assert!(states < tolerance, "{label}: states differ by {states:e}");
                for (name, var) in [("x", &x), ("W_x", &w_x), ("b", &bias), ("W_h", &w_h)] {
                    let (Some(ours), Some(theirs)) = (
                        fused_grads.get(var.as_tensor()),
                        reference_grads.get(var.as_tensor()),
                    ) else {
                        panic!("{label}: no gradient for {name}");
                    };
                    let gap = difference(ours, theirs)?;
                    assert!(gap < tolerance, "{label}: ∂L/∂{name} differs by {gap:e}");
                }
                let norms = op.gradients().norms();
                assert_eq!(norms.len(), steps, "{label}");
                for (t, probe) in probes.iter().enumerate() {
                    let Some(grad) = reference_grads.get(probe.as_tensor()) else {
                        panic!("{label}: no gradient for the probe at t = {t}");
                    };
                    let expected = grad
                        .to_dtype(DType::F64)?
                        .sqr()?
                        .sum_all()?
                        .sqrt()?
                        .to_scalar::<f64>()?;
                    let gap = (norms[t] - expected).abs() / expected;
                    assert!(
                        gap < tolerance,
                        "{label}: ‖∂L/∂h_{t}‖ {} against {expected}",
                        norms[t]
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn inputs_that_are_data_get_no_gradient() -> Result<()> {
        let (steps, batch, hidden, inputs) = (3, 2, 4, 2);
        let width = 4 * hidden;
        let x = Tensor::from_vec(
            values(steps * batch * inputs, 1.0, 7),
            (steps * batch, inputs),
            &Device::Cpu,
        )?;
        let w_x = Var::from_tensor(&Tensor::from_vec(
            values(inputs * width, 0.5, 8),
            (inputs, width),
            &Device::Cpu,
        )?)?;
        let bias = Var::zeros(width, DType::F64, &Device::Cpu)?;
        let w_h = Var::from_tensor(&Tensor::from_vec(
            values(hidden * width, 0.5, 9),
            (hidden, width),
            &Device::Cpu,
        )?)?;
        let size = Unrolled {
            steps,
            batch,
            hidden,
            inputs,
        };
        let op = Recurrence::new(ModelKind::Lstm, (Activation::Tanh, 0.0), size, false);
        let states = op.apply(&x, w_x.as_tensor(), bias.as_tensor(), w_h.as_tensor())?;
        assert_eq!(states.dims(), [steps * batch, hidden]);
        let grads = states.sum_all()?.backward()?;
        assert!(grads.get(&x).is_none());
        assert!(grads.get(w_h.as_tensor()).is_some());
        // The last state's gradient is the loss's own: a row of ones per example.
        let norms = op.gradients().norms();
        assert!((norms[steps - 1] - ((batch * hidden) as f64).sqrt()).abs() < 1e-12);
        Ok(())
    }
}
