//! What signal-propagation theory predicts for an MLP at initialisation (Poole et al.
//! 2016, Schoenholz et al. 2017), to draw beside what the trainer measures.
//!
//! In a wide net with independent weights of variance σ_w²/fan_in and zero biases, the
//! pre-activations z_l of hidden layer l are Gaussian with variance q_l, which follows
//! the forward map
//!
//! q_1 = Var(W_1) · |x|²  (= σ_w² · |x|²/fan_in, with fan_in the number of features),
//! q_l = σ_w² · E[φ(z_{l−1})²] / (1 − p) for l ≥ 2,
//!
//! (p the dropout rate, whose inverted mask has E[m²] = 1/(1 − p)). Going back through
//! layer l multiplies the squared norm of an example's gradient by
//!
//! χ_l = σ_w² · E[φ'(z_l)²] / (1 − p),
//!
//! so ‖∂L/∂h_{l−1}‖ = √χ_l · ‖∂L/∂h_l‖. Anchored at the measured norm of the top hidden
//! layer, that gives a predicted norm for every hidden layer below it.
//!
//! The input enters through q_1 only, and examples differ in |x|² (the spirals run from
//! the centre out), while χ depends on q for every activation but the ReLU family. So
//! the training examples are sorted by |x|² into `INPUT_GROUPS` groups of equal size,
//! each group's mean |x|² is carried through the maps on its own, and the batch's
//! squared norm is the mean over the groups of Π χ_l (each example reaching the top
//! hidden layer with a gradient of about the same size at initialisation). With a
//! single q_1 from the mean |x|², the predicted profile of a wide SELU net on the
//! spirals was up to 50–73% off (seeds 1–3, ten layers); with the groups, up to 5–19%.
//!
//! σ_w² = fan_in · Var(W_l) comes from the configured initialiser, gain included: 1/3 for
//! `standard`, 1 for Xavier between equal widths, LeCun and orthogonal, 2 for He, σ²·fan_in
//! for `normal`, a²/3·fan_in for `uniform`; PReLU uses its initial slope 0.25. Batch
//! normalisation and residual connections change both maps, so for them no prediction
//! is made.
//!
//! The Gaussian expectations are integrals computed with composite Simpson rules split
//! at z = 0 (where the ReLU family and ELU have their kinks), on panels fine enough for
//! both the Gaussian's scale √q and the activation's own scale of about 1: the relative
//! error is below 1e-8 for every activation here (see tests/theory.rs).

use crate::config::{Activation, Config, ModelConfig};
use crate::data::{DataError, Dataset};
use crate::model::activation::{PRELU_INIT, derivative, value};
use crate::model::init::init_std;

/// The prediction for one configuration at initialisation.
#[derive(Clone, Debug, PartialEq)]
pub struct InitTheory {
    /// q_l, the variance of hidden layer l's pre-activations (the mean over the groups
    /// of examples), for l = 1 to depth.
    pub pre_activation_variance: Vec<f64>,
    /// χ_l for l = 2 to depth: the factor on the batch's squared gradient norm from layer
    /// l's output back to layer l − 1's (the mean over the groups of examples). Empty
    /// for a single hidden layer.
    pub chi: Vec<f64>,
    /// Predicted ‖∂L/∂h_l‖ / ‖∂L/∂h_depth‖ for l = 1 to depth (the last is 1).
    pub relative_grad_norm: Vec<f64>,
}

impl InitTheory {
    /// Predicted ‖∂L/∂h_l‖ of every hidden layer, given the measured norm of the top
    /// hidden layer at the first step.
    pub fn predicted_grad_norms(&self, top_hidden: f64) -> Vec<f64> {
        self.relative_grad_norm
            .iter()
            .map(|r| r * top_hidden)
            .collect()
    }

    /// The smallest and largest χ_l, if the net has more than one hidden layer.
    pub fn chi_range(&self) -> Option<(f64, f64)> {
        let min = self.chi.iter().copied().reduce(f64::min)?;
        let max = self.chi.iter().copied().reduce(f64::max)?;
        Some((min, max))
    }

    /// "χ = 0.33", or "χ = 0.31–0.45" where χ changes with depth by more than 1%.
    pub fn chi_label(&self) -> Option<String> {
        let (min, max) = self.chi_range()?;
        Some(if max <= min * 1.01 {
            format!("χ = {}", significant(min))
        } else {
            format!("χ = {}–{}", significant(min), significant(max))
        })
    }
}

/// Three significant digits, without exponent notation for everyday values.
fn significant(x: f64) -> String {
    if x != 0.0 && !(1e-3..1e4).contains(&x.abs()) {
        return format!("{x:.2e}");
    }
    let decimals = (2 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

/// Groups of training examples, by |x|², carried through the variance map apart.
const INPUT_GROUPS: usize = 8;

/// The theory's prediction for `config` with the training inputs `inputs` (row-major,
/// `num_features` a row). `None` where it does not apply: recurrent nets, batch
/// normalisation, residual connections, the identity init (its weights are not
/// random), no inputs, or pre-activation variances that overflow.
pub fn init_theory(config: &Config, inputs: &[f32], num_features: usize) -> Option<InitTheory> {
    let model = &config.model;
    let not_random = model.init == crate::config::Init::Identity;
    if model.kind.is_recurrent()
        || not_random
        || model.batch_norm
        || model.residual_every > 0
        || num_features == 0
    {
        return None;
    }
    let group_square_norms = group_square_norms(inputs, num_features);
    if group_square_norms.is_empty() {
        return None;
    }
    // Layer 1 maps the features to the hidden width: its own variance.
    let std = init_std(model.init, num_features, model.width, model.init_scale);
    let input_weight_variance = (std * model.init_gain).powi(2);

    let num_groups = group_square_norms.len() as f64;
    let mut variances = vec![0.0; model.depth];
    // For each layer l, the sum over the groups of χ_{l+1} · … · χ_depth.
    let mut square_sums = vec![0.0; model.depth];
    for square_norm in group_square_norms {
        let (q, chi) = propagate(model, input_weight_variance * square_norm)?;
        let mut product = 1.0;
        square_sums[model.depth - 1] += 1.0;
        for layer in (2..=model.depth).rev() {
            product *= chi[layer - 2];
            square_sums[layer - 2] += product;
        }
        for (v, q) in variances.iter_mut().zip(q) {
            *v += q / num_groups;
        }
    }

    let relative: Vec<f64> = square_sums
        .iter()
        .map(|s| (s / num_groups).sqrt())
        .collect();
    let chi = relative.windows(2).map(|w| (w[0] / w[1]).powi(2)).collect();
    Some(InitTheory {
        pre_activation_variance: variances,
        chi,
        relative_grad_norm: relative,
    })
}

/// The mean |x|² of each of up to `INPUT_GROUPS` equal groups of the examples sorted by
/// |x|².
fn group_square_norms(inputs: &[f32], num_features: usize) -> Vec<f64> {
    let mut square_norms: Vec<f64> = inputs
        .chunks_exact(num_features)
        .map(|row| row.iter().map(|&x| f64::from(x).powi(2)).sum())
        .collect();
    if square_norms.is_empty() {
        return Vec::new();
    }
    square_norms.sort_by(f64::total_cmp);
    square_norms
        .chunks(square_norms.len().div_ceil(INPUT_GROUPS))
        .map(|group| group.iter().sum::<f64>() / group.len() as f64)
        .collect()
}

/// The variances q_l, l = 1 to depth, from q_1 by the forward map, and the factors χ_l,
/// l = 2 to depth, for one example (or a group of examples of similar |x|²).
fn propagate(model: &ModelConfig, q1: f64) -> Option<(Vec<f64>, Vec<f64>)> {
    let slope = match model.activation {
        Activation::Prelu => PRELU_INIT,
        _ => model.leaky_slope,
    };
    let std = init_std(model.init, model.width, model.width, model.init_scale) * model.init_gain;
    let sigma_w2 = std * std * model.width as f64;
    let dropout_gain = 1.0 / (1.0 - model.dropout);

    let mut q = q1;
    let mut variances = Vec::with_capacity(model.depth);
    let mut chi = Vec::with_capacity(model.depth.saturating_sub(1));
    for layer in 1..=model.depth {
        if !(q.is_finite() && q < MAX_VARIANCE) {
            return None;
        }
        variances.push(q);
        let [second_moment, derivative_square] = gaussian_expectations(q, |z| {
            let f = value(model.activation, z, slope);
            let d = derivative(model.activation, z, slope);
            [f * f, d * d]
        });
        if layer >= 2 {
            chi.push(sigma_w2 * derivative_square * dropout_gain);
        }
        q = sigma_w2 * second_moment * dropout_gain;
    }
    Some((variances, chi))
}

/// [`init_theory`] with the training inputs of the configured task.
pub fn init_theory_for(config: &Config) -> Result<Option<InitTheory>, DataError> {
    let dataset = Dataset::load(&config.task, config.seed)?;
    Ok(init_theory(config, &dataset.train_x, dataset.num_features))
}

// ---------------------------------------------------------------------------
// Gaussian expectations

/// Beyond this the integration grid's squares would leave f64's range.
const MAX_VARIANCE: f64 = 1e290;
/// The integrals run over ±`TAIL_SIGMAS` standard deviations: the Gaussian mass left
/// out is about 1.5e-23.
const TAIL_SIGMAS: f64 = 10.0;
/// Within |z| ≤ `INNER_HALF_WIDTH` the activations change on a scale of about 1, so
/// the grid there is never coarser than `INNER_STEP`; beyond it they are linear,
/// constant or exponentially flat, and only the Gaussian's scale matters.
const INNER_HALF_WIDTH: f64 = 40.0;
const INNER_STEP: f64 = 0.02;
/// Intervals per panel at least, so that the Gaussian itself is resolved.
const MIN_INTERVALS: usize = 1000;

/// E[f(z)] for z ~ N(0, q), for a vector-valued `f` (several expectations at the same
/// nodes). For q = 0, f(0).
pub fn gaussian_expectations<const N: usize>(q: f64, f: impl Fn(f64) -> [f64; N]) -> [f64; N] {
    if q <= 0.0 {
        return f(0.0);
    }
    let sigma = q.sqrt();
    let outer = TAIL_SIGMAS * sigma;
    let inner = outer.min(INNER_HALF_WIDTH);
    let density = |z: f64| (-0.5 * z * z / q).exp() / (2.0 * std::f64::consts::PI * q).sqrt();
    let integrand = |z: f64| {
        let w = density(z);
        f(z).map(|v| v * w)
    };

    let mut total = [0.0; N];
    let mut add = |lo: f64, hi: f64| {
        let part = simpson(&integrand, lo, hi);
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    };
    add(-inner, 0.0);
    add(0.0, inner);
    if outer > inner {
        add(-outer, -inner);
        add(inner, outer);
    }
    total
}

/// E[f(z)] for z ~ N(0, q).
pub fn gaussian_expectation(q: f64, f: impl Fn(f64) -> f64) -> f64 {
    gaussian_expectations(q, |z| [f(z)])[0]
}

/// Composite Simpson rule on [lo, hi] with an even number of intervals: at least
/// `MIN_INTERVALS`, and on the inner panels none wider than `INNER_STEP`.
fn simpson<const N: usize>(f: &impl Fn(f64) -> [f64; N], lo: f64, hi: f64) -> [f64; N] {
    let width = hi - lo;
    let by_step = if lo.abs().max(hi.abs()) <= INNER_HALF_WIDTH {
        (width / INNER_STEP).ceil() as usize
    } else {
        0
    };
    let intervals = by_step.max(MIN_INTERVALS).next_multiple_of(2);
    let h = width / intervals as f64;

    // The end nodes are moved inside by a billionth of an interval, so that a function
    // with a jump at a panel's end (ReLU's derivative at 0) is taken from this panel's
    // side; the change to the integral is of that order.
    let nudge = h * 1e-9;
    let mut sum = [0.0; N];
    for i in 0..=intervals {
        let (weight, z) = if i == 0 {
            (1.0, lo + nudge)
        } else if i == intervals {
            (1.0, hi - nudge)
        } else if i % 2 == 1 {
            (4.0, lo + i as f64 * h)
        } else {
            (2.0, lo + i as f64 * h)
        };
        for (s, v) in sum.iter_mut().zip(f(z)) {
            *s += weight * v;
        }
    }
    sum.map(|s| s * h / 3.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_label_is_one_value_or_a_range() {
        let theory = |chi: Vec<f64>| InitTheory {
            pre_activation_variance: vec![1.0; chi.len() + 1],
            relative_grad_norm: vec![1.0; chi.len() + 1],
            chi,
        };
        assert_eq!(
            theory(vec![0.3333, 0.3334]).chi_label().as_deref(),
            Some("χ = 0.333")
        );
        assert_eq!(
            theory(vec![0.5, 1.5]).chi_label().as_deref(),
            Some("χ = 0.500–1.50")
        );
        assert_eq!(theory(vec![]).chi_label(), None);
    }

    #[test]
    fn profile_is_the_running_product_of_root_chi() {
        let mut config = Config::default();
        config.model.activation = Activation::Relu;
        config.model.init = crate::config::Init::HeNormal;
        config.model.init_gain = 0.5f64.sqrt(); // σ_w² = 2 · 0.5 = 1; χ = 1/2
        config.model.depth = 4;
        config.model.width = 100;
        let inputs = [1.0f32, 2.0, 2.0, 0.0];
        let Some(theory) = init_theory(&config, &inputs, 2) else {
            panic!("ReLU without batch norm has a prediction");
        };
        for chi in &theory.chi {
            assert!((chi - 0.5).abs() < 1e-9, "{chi}");
        }
        // q_1 = Var(W_1) · mean |x|² = (2/2 · 0.5) · (5 + 4) / 2.
        assert!((theory.pre_activation_variance[0] - 2.25).abs() < 1e-9);
        let expected = [0.5f64.powf(1.5), 0.5, 0.5f64.sqrt(), 1.0];
        for (got, want) in theory.relative_grad_norm.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        assert_eq!(theory.predicted_grad_norms(2.0)[3], 2.0);
    }

    #[test]
    fn no_prediction_for_batch_norm_or_residual_nets() {
        let inputs = [1.0f32; 8];
        let mut config = Config::default();
        assert!(init_theory(&config, &inputs, 4).is_some());
        config.model.batch_norm = true;
        assert!(init_theory(&config, &inputs, 4).is_none());
        config.model.batch_norm = false;
        config.model.residual_every = 2;
        assert!(init_theory(&config, &inputs, 4).is_none());
    }
}
