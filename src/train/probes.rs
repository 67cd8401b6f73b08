//! Per-layer probes computed from what the forward pass kept: how many units are
//! saturated or dead, and the mean and spread of each layer's output.
//!
//! - `saturated_fraction`: the fraction of (example, unit) pairs of the batch where
//!   |f'(z)| is below 5% of the activation's largest derivative (0.25 for sigmoid, 1 for
//!   tanh, softsign, ReLU and ELU, λα ≈ 1.76 for SELU, ≈ 1.13 for GELU, ≈ 1.10 for
//!   SiLU). For ReLU this is the negative side; for sigmoid and tanh the flat tails.
//! - `dead_fraction`: the fraction of units with f'(z) = 0 exactly for every example of
//!   the batch: units through which no gradient flows at all (ReLU's negative side).
//! - `activation_mean`, `activation_std`: over all examples and units of the layer's
//!   output (after any residual addition and dropout).
//!
//! The output layer is linear: never saturated, never dead.

use std::sync::OnceLock;

use super::norm::lane_sum;
use crate::config::Activation;
use crate::model::activation::{SATURATION_FRACTION, derivative, max_derivative};

/// Saturated and dead fractions of one hidden layer from its pre-activations, given
/// row-major (`examples × units`); `slope` is Leaky ReLU's or the layer's PReLU slope.
pub fn saturation<T: Sample>(
    pre_activation: &[T],
    units: usize,
    activation: Activation,
    slope: f64,
) -> (f64, f64) {
    if pre_activation.is_empty() || units == 0 {
        return (0.0, 0.0);
    }
    let threshold = SATURATION_FRACTION * max_derivative(activation, slope);
    // One loop per kind of test, so that the test is decided outside the loop.
    let (saturated, alive) = match UnitTest::new(activation, slope, threshold) {
        UnitTest::Symmetric(saturated_from, zero_from) => {
            // Compared in T: for f32 that is twice the values to a vector register.
            let (saturated_above, zero_from) = (T::below(saturated_from), T::above(zero_from));
            count(pre_activation, units, |z| {
                let a = z.abs();
                (a > saturated_above, a >= zero_from)
            })
        }
        test @ UnitTest::Piecewise { .. } => {
            let (positive, negative) = (test.classify(1.0), test.classify(-1.0));
            count(pre_activation, units, |z| {
                if z.into() > 0.0 { positive } else { negative }
            })
        }
        test @ UnitTest::Direct { .. } => count(pre_activation, units, |z| test.classify(z.into())),
    };
    let dead = alive.iter().filter(|&&a| !a).count();
    (
        saturated as f64 / pre_activation.len() as f64,
        dead as f64 / units as f64,
    )
}

/// The number of saturated values, and for each unit whether any value of it has a
/// nonzero derivative, by `classify` (saturated, derivative exactly zero).
fn count<T: Copy>(
    pre_activation: &[T],
    units: usize,
    classify: impl Fn(T) -> (bool, bool),
) -> (usize, Vec<bool>) {
    // Counted per unit, so that a row adds vectors without summing across lanes.
    let mut saturated = vec![0u32; units];
    let mut alive = vec![false; units];
    for row in pre_activation.chunks(units) {
        for ((saturated, alive), &z) in saturated.iter_mut().zip(alive.iter_mut()).zip(row) {
            let (is_saturated, is_zero) = classify(z);
            *saturated += u32::from(is_saturated);
            *alive |= !is_zero;
        }
    }
    (saturated.iter().map(|&n| n as usize).sum(), alive)
}

/// A value the probes read: f32 or f64.
pub trait Sample: Copy + Into<f64> + PartialOrd {
    fn abs(self) -> Self;
    /// The largest value of this type at or below `t`: for any value `a` of this type,
    /// `a > below(t)` exactly when `a > t` in f64.
    fn below(t: f64) -> Self;
    /// The smallest value of this type at or above `t`: `a >= above(t)` exactly when
    /// `a >= t` in f64.
    fn above(t: f64) -> Self;
}

impl Sample for f64 {
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn below(t: f64) -> Self {
        t
    }
    fn above(t: f64) -> Self {
        t
    }
}

impl Sample for f32 {
    fn abs(self) -> Self {
        f32::abs(self)
    }
    fn below(t: f64) -> Self {
        let near = t as f32;
        if f64::from(near) > t {
            near.next_down()
        } else {
            near
        }
    }
    fn above(t: f64) -> Self {
        let near = t as f32;
        if f64::from(near) < t {
            near.next_up()
        } else {
            near
        }
    }
}

/// How a pre-activation z is classified, worked out once per layer so that the
/// per-unit test needs no exponential: for sigmoid, tanh and softsign |f'(z)| falls as
/// |z| grows, so "saturated" and "zero derivative" are thresholds on |z|, found by
/// bisection on the same derivative the other activations use directly.
enum UnitTest {
    /// (saturated above this |z|, derivative exactly zero from this |z|).
    Symmetric(f64, f64),
    /// ReLU kinds: the derivative is 1 for z > 0 and `slope` otherwise.
    Piecewise { slope: f64, threshold: f64 },
    Direct {
        activation: Activation,
        slope: f64,
        threshold: f64,
    },
}

impl UnitTest {
    fn new(activation: Activation, slope: f64, threshold: f64) -> Self {
        match activation {
            Activation::Sigmoid | Activation::Tanh | Activation::Softsign => {
                let (saturated_from, zero_from) = symmetric_thresholds(activation);
                Self::Symmetric(saturated_from, zero_from)
            }
            Activation::Relu => Self::Piecewise {
                slope: 0.0,
                threshold,
            },
            Activation::LeakyRelu | Activation::Prelu => Self::Piecewise { slope, threshold },
            _ => Self::Direct {
                activation,
                slope,
                threshold,
            },
        }
    }

    /// (saturated, derivative exactly zero) for one pre-activation.
    fn classify(&self, z: f64) -> (bool, bool) {
        match *self {
            Self::Symmetric(saturated_from, zero_from) => {
                let a = z.abs();
                (a > saturated_from, a >= zero_from)
            }
            Self::Piecewise { slope, threshold } => {
                let d = if z > 0.0 { 1.0 } else { slope.abs() };
                (d < threshold, d == 0.0)
            }
            Self::Direct {
                activation,
                slope,
                threshold,
            } => {
                let d = derivative(activation, z, slope).abs();
                (d < threshold, d == 0.0)
            }
        }
    }
}

/// The |z| thresholds of sigmoid, tanh and softsign, found once per process (their
/// derivatives and the saturation threshold do not depend on any setting).
fn symmetric_thresholds(activation: Activation) -> (f64, f64) {
    static THRESHOLDS: OnceLock<[(f64, f64); 3]> = OnceLock::new();
    let all = THRESHOLDS.get_or_init(|| {
        [Activation::Sigmoid, Activation::Tanh, Activation::Softsign].map(|activation| {
            let threshold = SATURATION_FRACTION * max_derivative(activation, 0.0);
            let d = |z: f64| derivative(activation, z, 0.0).abs();
            (
                first_where(|z| d(z) < threshold),
                first_where(|z| d(z) == 0.0),
            )
        })
    });
    match activation {
        Activation::Sigmoid => all[0],
        Activation::Tanh => all[1],
        _ => all[2],
    }
}

/// The smallest z ≥ 0 (to within rounding) where the monotone condition `holds` starts
/// to hold; infinity if it never does below 1e4.
fn first_where(holds: impl Fn(f64) -> bool) -> f64 {
    let (mut low, mut high) = (0.0f64, 1e4f64);
    if !holds(high) {
        return f64::INFINITY;
    }
    if holds(low) {
        return 0.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if mid <= low || mid >= high {
            break;
        }
        if holds(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    // Saturated means strictly beyond the last z where the condition fails.
    low
}

/// Mean and population standard deviation of `values`.
pub fn moments<T: Copy + Into<f64>>(values: &[T]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = lane_sum(values, |v| v) / n;
    let var = lane_sum(values, |v| (v - mean) * (v - mean)) / n;
    (mean, var.sqrt())
}

/// Mean of a sigmoid gate's values and the fraction of them that are saturated:
/// σ'(z) = s(1 − s) below 5% of its maximum of 1/4, i.e. the gate stuck near 0 or 1.
pub fn gate_stats<T: Copy + Into<f64>>(values: &[T]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let threshold = SATURATION_FRACTION * 0.25;
    let saturated = lane_sum(values, |s| f64::from(u8::from(s * (1.0 - s) < threshold)));
    let n = values.len() as f64;
    (lane_sum(values, |s| s) / n, saturated / n)
}

/// The largest singular value of the `rows × cols` row-major matrix `w`, by power
/// iteration on W·Wᵀ started from `start` (a unit vector of length `rows`, updated to
/// the converged left singular vector so that the next call starts warm). Stops when
/// the estimate changes by less than 1e-10 of itself, or after `max_iterations`.
pub fn top_singular_value(
    w: &[f64],
    rows: usize,
    cols: usize,
    start: &mut Vec<f64>,
    max_iterations: usize,
) -> f64 {
    if rows == 0 || cols == 0 || w.len() != rows * cols {
        return f64::NAN;
    }
    if start.len() != rows || start.iter().all(|&u| u == 0.0) {
        *start = vec![1.0 / (rows as f64).sqrt(); rows];
    }
    let mut u = std::mem::take(start);
    let mut v = vec![0.0; cols];
    let mut sigma = 0.0;
    for _ in 0..max_iterations {
        // v = Wᵀu / ‖Wᵀu‖
        v.iter_mut().for_each(|x| *x = 0.0);
        for (row, &ur) in w.chunks_exact(cols).zip(&u) {
            for (vc, &wrc) in v.iter_mut().zip(row) {
                *vc += wrc * ur;
            }
        }
        let v_norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(v_norm > 0.0 && v_norm.is_finite()) {
            *start = u;
            return if v_norm.is_finite() { 0.0 } else { f64::NAN };
        }
        v.iter_mut().for_each(|x| *x /= v_norm);
        // u = W·v; σ = ‖u‖
        for (ur, row) in u.iter_mut().zip(w.chunks_exact(cols)) {
            *ur = row.iter().zip(&v).map(|(a, b)| a * b).sum();
        }
        let next = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        if next > 0.0 {
            u.iter_mut().for_each(|x| *x /= next);
        }
        let converged = (next - sigma).abs() <= 1e-10 * next;
        sigma = next;
        if converged {
            break;
        }
    }
    *start = u;
    sigma
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_stats_by_hand() {
        // s(1 − s) < 0.0125 for s below about 0.0127 or above about 0.9873.
        let (mean, saturated) = gate_stats(&[0.5f32, 0.01, 0.999, 0.9]);
        assert!((mean - (0.5 + 0.01 + 0.999 + 0.9) / 4.0).abs() < 1e-6);
        assert!((saturated - 0.5).abs() < 1e-12);
    }

    #[test]
    fn top_singular_value_of_known_matrices() {
        // diag(3, −5, 1) padded with a zero column: singular values 5, 3, 1.
        let w = [3.0, 0.0, 0.0, 0.0, 0.0, -5.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let mut start = Vec::new();
        let sigma = top_singular_value(&w, 3, 4, &mut start, 500);
        assert!((sigma - 5.0).abs() < 1e-8, "{sigma}");
        // A rotation by 30° times 1.5: both singular values are 1.5.
        let (c, s) = (0.5f64 * 3f64.sqrt(), 0.5);
        let w = [1.5 * c, -1.5 * s, 1.5 * s, 1.5 * c];
        let sigma = top_singular_value(&w, 2, 2, &mut Vec::new(), 500);
        assert!((sigma - 1.5).abs() < 1e-12, "{sigma}");
        // [[1, 1], [0, 1]]: σ_max = (1 + √5)/2, the golden ratio.
        let sigma = top_singular_value(&[1.0, 1.0, 0.0, 1.0], 2, 2, &mut Vec::new(), 500);
        assert!((sigma - (1.0 + 5f64.sqrt()) / 2.0).abs() < 1e-8, "{sigma}");
    }

    #[test]
    fn relu_saturation_and_dead_units_by_hand() {
        // Unit 0 is negative for both examples (dead), unit 1 for one of them.
        let z = [-1.0, 2.0, 3.0, -0.5, -4.0, 1.0];
        let (saturated, dead) = saturation(&z[..], 3, Activation::Relu, 0.0);
        assert!((saturated - 3.0 / 6.0).abs() < 1e-12);
        assert!((dead - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn sigmoid_saturates_in_its_tails_but_never_dies() {
        // σ'(z) < 0.05 · 0.25 where |z| > ≈ 4.37.
        let (saturated, dead) =
            saturation(&[-10.0f64, 0.0, 4.3, 4.5][..], 4, Activation::Sigmoid, 0.0);
        assert!((saturated - 0.5).abs() < 1e-12);
        assert_eq!(dead, 0.0);
    }

    /// The threshold shortcut classifies exactly as the derivative does, on a fine grid
    /// and right at the boundaries.
    #[test]
    fn shortcut_agrees_with_the_derivative() {
        for activation in Activation::ALL {
            let slope = 0.1;
            let threshold = SATURATION_FRACTION * max_derivative(activation, slope);
            let test = UnitTest::new(activation, slope, threshold);
            for i in -400_000..=400_000 {
                let z = f64::from(i) * 1e-4;
                let d = derivative(activation, z, slope).abs();
                assert_eq!(
                    test.classify(z),
                    (d < threshold, d == 0.0),
                    "{activation:?} at {z}"
                );
            }
            for z in [36.0, 36.8, 37.0, 40.0, 400.0, 800.0] {
                let d = derivative(activation, z, slope).abs();
                assert_eq!(test.classify(z).1, d == 0.0, "{activation:?} zero at {z}");
            }
        }
    }

    /// The counting loops agree with the derivative itself, value by value, for every
    /// activation on a batch that includes zeros, ties and values far in the tails.
    #[test]
    fn saturation_counts_agree_with_the_derivative() {
        let units = 7;
        let z: Vec<f64> = (0..700)
            .map(|i| match i % 9 {
                0 => 0.0,
                1 => -50.0,
                _ => (f64::from(i) * 0.731).sin() * f64::from(i % 13),
            })
            .collect();
        for activation in Activation::ALL {
            let slope = 0.1;
            let threshold = SATURATION_FRACTION * max_derivative(activation, slope);
            let d = |z: f64| derivative(activation, z, slope).abs();
            let saturated = z.iter().filter(|&&z| d(z) < threshold).count();
            let dead = (0..units)
                .filter(|&u| z.iter().skip(u).step_by(units).all(|&z| d(z) == 0.0))
                .count();
            let (got_saturated, got_dead) = saturation(&z[..], units, activation, slope);
            assert_eq!(
                got_saturated,
                saturated as f64 / z.len() as f64,
                "{activation:?}"
            );
            assert_eq!(got_dead, dead as f64 / units as f64, "{activation:?}");
        }
    }

    /// f32 values are compared with the thresholds in f32; at and around every
    /// threshold they are classified as their f64 values are.
    #[test]
    fn f32_values_are_classified_as_in_f64() {
        for activation in [Activation::Sigmoid, Activation::Tanh, Activation::Softsign] {
            let (saturated_from, zero_from) = symmetric_thresholds(activation);
            let mut z = Vec::new();
            for t in [saturated_from, zero_from, 1.0, 0.0] {
                let mut v = (t as f32).next_down().next_down();
                for _ in 0..5 {
                    z.extend([v, -v]);
                    v = v.next_up();
                }
            }
            z.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MAX, 0.0]);
            let wide: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
            for units in [1, 2, 5] {
                assert_eq!(
                    saturation(&z[..], units, activation, 0.0),
                    saturation(&wide[..], units, activation, 0.0),
                    "{activation:?}, {units} units"
                );
            }
        }
        // Rounding in the right direction, for thresholds between two f32 values.
        let t = 1.0 + 1e-9;
        assert_eq!(f32::below(t), 1.0);
        assert_eq!(f32::above(t), 1.0f32.next_up());
        assert_eq!(f32::below(1e300), f32::MAX);
        assert_eq!(f32::above(1e300), f32::INFINITY);
        assert_eq!(f32::above(f64::INFINITY), f32::INFINITY);
    }

    #[test]
    fn moments_by_hand() {
        let (mean, std) = moments(&[1.0f64, 3.0, 5.0, 7.0][..]);
        assert!((mean - 4.0).abs() < 1e-12);
        assert!((std - 5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn moments_and_gates_of_many_values() {
        // 1, 2, …, 21 (more than the running sums hold, and not a multiple of them):
        // mean 11, population variance (21² − 1)/12.
        let values: Vec<f32> = (1..=21u8).map(f32::from).collect();
        let (mean, std) = moments(&values);
        assert!((mean - 11.0).abs() < 1e-12, "{mean}");
        assert!((std - (440.0f64 / 12.0).sqrt()).abs() < 1e-12, "{std}");
        // 19 gate values, 7 of them saturated (0.001 and 0.9995).
        let gates: Vec<f32> = (0..19)
            .map(|i| match i % 3 {
                0 if i % 6 == 0 => 0.001,
                0 => 0.9995,
                _ => 0.5,
            })
            .collect();
        let expected_mean = gates.iter().map(|&g| f64::from(g)).sum::<f64>() / 19.0;
        let (mean, saturated) = gate_stats(&gates);
        assert!((mean - expected_mean).abs() < 1e-12);
        assert!((saturated - 7.0 / 19.0).abs() < 1e-12, "{saturated}");
        assert!(
            moments(&[1.0f32, f32::NAN, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
                .0
                .is_nan()
        );
    }
}
