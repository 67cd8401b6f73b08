//! The signal-propagation prediction against closed forms and against the trainer.
//!
//! First the Gaussian expectations it rests on, against closed forms and against an
//! independent quadrature; then the predicted per-layer gradient profile of wide nets at
//! initialisation against the back-propagated norms ‖∂L/∂h_l‖ the trainer measures at
//! its first step.

mod common;

use common::config_with;

use gradlab::config::{Activation, Config};
use gradlab::model::activation::{derivative, value};
use gradlab::theory::{InitTheory, gaussian_expectation, init_theory};
use gradlab::train::Trainer;

// ---------------------------------------------------------------------------
// Gaussian expectations

const VARIANCES: [f64; 7] = [1e-4, 0.01, 0.5, 1.0, 4.0, 30.0, 1e4];

fn assert_close(got: f64, want: f64, relative: f64, what: &str) {
    assert!(
        (got - want).abs() <= relative * want.abs(),
        "{what}: {got} against {want} (relative error {:.2e}, allowed {relative:.0e})",
        ((got - want) / want).abs()
    );
}

/// Φ(x), the standard normal distribution function, from the complementary error
/// function.
fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

#[test]
fn expectations_match_closed_forms() {
    for q in VARIANCES {
        assert_close(gaussian_expectation(q, |_| 1.0), 1.0, 1e-9, "E[1]");
        assert_close(gaussian_expectation(q, |z| z * z), q, 1e-9, "E[z²]");
        assert_close(
            gaussian_expectation(q, |z| z.powi(4)),
            3.0 * q * q,
            1e-8,
            "E[z⁴]",
        );

        let relu_d = gaussian_expectation(q, |z| derivative(Activation::Relu, z, 0.0).powi(2));
        assert_close(relu_d, 0.5, 1e-9, "ReLU E[φ'²]");
        let relu_v = gaussian_expectation(q, |z| value(Activation::Relu, z, 0.0).powi(2));
        assert_close(relu_v, q / 2.0, 1e-9, "ReLU E[φ²]");
        let slope = 0.2;
        let leaky =
            gaussian_expectation(q, |z| derivative(Activation::LeakyRelu, z, slope).powi(2));
        assert_close(leaky, (1.0 + slope * slope) / 2.0, 1e-9, "leaky E[φ'²]");

        // ELU (α = 1): φ' = e^z below 0, and E[e^{2z}; z < 0] = e^{2q} Φ(−2√q).
        let elu = gaussian_expectation(q, |z| derivative(Activation::Elu, z, 0.0).powi(2));
        let closed = 0.5 + (2.0 * q).exp() * normal_cdf(-2.0 * q.sqrt());
        // For q = 1e4 the product e^{2q}Φ(−2√q) is far out of f64's range; its value is
        // 1/(2√(2πq)) to leading order, about 0.002, and the sum is still checked.
        let closed = if closed.is_finite() {
            closed
        } else {
            0.5 + 1.0 / (2.0 * (2.0 * std::f64::consts::PI * q).sqrt())
        };
        let tolerance = if q >= 1e4 { 1e-4 } else { 1e-8 };
        assert_close(elu, closed, tolerance, &format!("ELU E[φ'²] at q = {q}"));
    }
}

/// E[f(z)] for z ~ N(0, q) by the plain trapezoid rule on the whole line in the
/// standardised variable u = z/√q, a different method from the library's split Simpson
/// rule. For functions analytic in a strip around the real axis, as tanh, sigmoid,
/// GELU and SiLU are, it converges faster than any power of the step: with poles at
/// distance d from the axis the error is about e^{−2πd/h}.
fn trapezoid_reference(q: f64, f: impl Fn(f64) -> f64) -> f64 {
    let sigma = q.sqrt();
    // tanh's poles lie at z = ±iπ/2, that is u = ±iπ/(2σ).
    let h = (0.005f64).min(0.05 / sigma);
    let n = (12.0 / h).ceil() as i64;
    let sum: f64 = (-n..=n)
        .map(|i| {
            let u = i as f64 * h;
            f(sigma * u) * (-0.5 * u * u).exp()
        })
        .sum();
    sum * h / (2.0 * std::f64::consts::PI).sqrt()
}

#[test]
fn smooth_activations_match_an_independent_quadrature() {
    for activation in [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Silu,
    ] {
        for q in VARIANCES {
            let d2 = |z: f64| derivative(activation, z, 0.0).powi(2);
            let v2 = |z: f64| value(activation, z, 0.0).powi(2);
            let what = format!("{activation:?} at q = {q}");
            assert_close(
                gaussian_expectation(q, d2),
                trapezoid_reference(q, d2),
                1e-8,
                &format!("E[φ'²] of {what}"),
            );
            assert_close(
                gaussian_expectation(q, v2),
                trapezoid_reference(q, v2),
                1e-8,
                &format!("E[φ²] of {what}"),
            );
        }
    }
    // The reference itself against a closed form of an entire function:
    // E[cos z] = e^{−q/2}, checked to 1e-12 absolute as it falls to 0.
    for q in VARIANCES {
        let got = trapezoid_reference(q, f64::cos);
        let want = (-q / 2.0).exp();
        assert!(
            (got - want).abs() < 1e-12,
            "E[cos z] at q = {q}: {got} against {want}"
        );
    }
}

// ---------------------------------------------------------------------------
// Prediction against measurement

/// Trains one step of `config` and returns the theory and the measured ‖∂L/∂h_l‖ of
/// every hidden layer (the output layer's left out).
fn measure(config: &Config) -> (InitTheory, Vec<f64>) {
    let mut trainer = Trainer::new(config).expect("a valid experiment");
    let dataset = trainer.dataset();
    let theory = init_theory(config, &dataset.train_x, dataset.num_features)
        .expect("a prediction for a plain MLP");
    let record = trainer.step().expect("a training step");
    let mut measured = record.activation_grad_norm;
    measured.pop();
    assert_eq!(measured.len(), config.model.depth);
    (theory, measured)
}

/// The largest relative error of the predicted per-layer ratio ‖∂L/∂h_l‖/‖∂L/∂h_{l+1}‖,
/// and of the predicted norm itself anchored at the top hidden layer.
fn margins(theory: &InitTheory, measured: &[f64]) -> (f64, f64) {
    let relative = &theory.relative_grad_norm;
    let ratio_error = (0..measured.len() - 1)
        .map(|l| {
            let predicted = relative[l] / relative[l + 1];
            let actual = measured[l] / measured[l + 1];
            (actual / predicted - 1.0).abs()
        })
        .fold(0.0, f64::max);
    let top = measured[measured.len() - 1];
    let profile_error = theory
        .predicted_grad_norms(top)
        .iter()
        .zip(measured)
        .map(|(p, m)| (m / p - 1.0).abs())
        .fold(0.0, f64::max);
    (ratio_error, profile_error)
}

fn wide(overrides: &[&str]) -> Config {
    let mut all = vec![
        "model.width=512",
        "model.depth=10",
        "train.batch_size=256",
        "train.steps=1",
    ];
    all.extend_from_slice(overrides);
    config_with(&all)
}

/// Checks one experiment at seed 1 against the prediction: every per-layer ratio within
/// `ratio_tolerance`, every layer's norm (anchored at the top hidden layer) within
/// `profile_tolerance`, both relative. Returns the theory for further checks.
fn assert_agrees(overrides: &[&str], ratio_tolerance: f64, profile_tolerance: f64) -> InitTheory {
    let config = wide(overrides);
    let (theory, measured) = measure(&config);
    let (ratio_error, profile_error) = margins(&theory, &measured);
    let predicted = theory.predicted_grad_norms(measured[measured.len() - 1]);
    let list = |values: &[f64]| -> String {
        let items: Vec<String> = values.iter().map(|v| format!("{v:.3e}")).collect();
        items.join(", ")
    };
    let report = format!(
        "{overrides:?} ({}): measured [{}], predicted [{}]",
        theory.chi_label().unwrap_or_default(),
        list(&measured),
        list(&predicted)
    );
    assert!(
        ratio_error <= ratio_tolerance,
        "per-layer ratio off by {ratio_error:.3} (allowed {ratio_tolerance}): {report}"
    );
    assert!(
        profile_error <= profile_tolerance,
        "profile off by {profile_error:.3} (allowed {profile_tolerance}): {report}"
    );
    theory
}

/// Tolerances for the 10-class digits task. Over seeds 1–3 of every digits case below,
/// the largest per-layer error measured was 5.2% and the largest profile error 13.2%
/// (both GELU, seed 3); without GELU at most 3.8% and 7.5%. A χ wrong by 3% would
/// already move the bottom of a 10-layer profile by about 14%.
const RATIO_TOLERANCE: f64 = 0.08;
const PROFILE_TOLERANCE: f64 = 0.15;

/// tanh with N(0, 0.02²) weights: pre-activations of variance below 0.01, where tanh is
/// nearly linear, and σ_w² = 512 · 0.02² ≈ 0.205, so the gradient shrinks by
/// √0.204 ≈ 0.45 a layer. Measured (seeds 1–3): per layer within 1.5–2.5%, profile
/// within 4.0–4.5%.
#[test]
fn near_linear_tanh_net_vanishes_as_predicted() {
    let theory = assert_agrees(
        &[
            "model.activation=tanh",
            "model.init=normal",
            "model.init_scale=0.02",
        ],
        RATIO_TOLERANCE,
        PROFILE_TOLERANCE,
    );
    // Near-linear: χ is σ_w² · E[tanh'²] with E[tanh'²] within 2% of 1.
    for chi in &theory.chi {
        assert!(
            (chi / (512.0 * 0.02 * 0.02) - 1.0).abs() < 0.02,
            "χ = {chi}"
        );
    }
}

/// tanh with Xavier weights (σ_w² = 1: χ ≈ 0.92–0.95, nearly flat) and with the classic
/// U(±1/√fan_in) (σ_w² = 1/3: χ ≈ 0.32–0.33, vanishing). Measured (seeds 1–3): per
/// layer within 2.2%, profile within 6.2%.
#[test]
fn tanh_nets_follow_the_prediction() {
    let xavier = assert_agrees(
        &["model.activation=tanh", "model.init=xavier_normal"],
        RATIO_TOLERANCE,
        PROFILE_TOLERANCE,
    );
    let standard = assert_agrees(
        &["model.activation=tanh", "model.init=standard"],
        RATIO_TOLERANCE,
        PROFILE_TOLERANCE,
    );
    let range = |t: &InitTheory| t.chi_range().expect("ten layers");
    assert!(range(&xavier).0 > 0.85 && range(&xavier).1 < 1.0);
    assert!(range(&standard).0 > 0.3 && range(&standard).1 < 1.0 / 3.0 + 1e-9);
}

/// ReLU with N(0, 0.0765²) weights: σ_w² = 512 · 0.0765² ≈ 3.0 and E[ReLU'²] = 1/2, so
/// χ ≈ 1.5 and the gradient grows by about 1.22 a layer towards the input. Measured
/// (seeds 1–3): per layer within 2.8–3.0%, profile within 4.2–6.3%.
#[test]
fn relu_net_explodes_as_predicted() {
    let theory = assert_agrees(
        &[
            "model.activation=relu",
            "model.init=normal",
            "model.init_scale=0.0765",
        ],
        RATIO_TOLERANCE,
        PROFILE_TOLERANCE,
    );
    let expected = 512.0 * 0.0765f64.powi(2) / 2.0;
    for chi in &theory.chi {
        assert!(
            (chi - expected).abs() < 1e-8,
            "χ = {chi}, closed form {expected}"
        );
    }
}

/// Sigmoid with U(±1/√fan_in) (χ ≈ 0.020: a hundredfold loss of squared norm a
/// layer), ReLU with He weights and dropout 0.2 (χ = 2 · ½ / 0.8 = 1.25), PReLU at its
/// initial slope 0.25 with He uniform weights (χ = 2 · (1 + 0.25²)/2 ≈ 1.06) and GELU with
/// He weights (χ ≈ 0.51–0.77, changing with depth). Measured (seeds 1–3): per layer
/// within 2.0%, 2.4%, 3.8% and 5.2%; profile within 4.5%, 4.0%, 7.5% and 13.2%.
#[test]
fn other_activations_follow_the_prediction() {
    for overrides in [
        &["model.activation=sigmoid", "model.init=standard"][..],
        &[
            "model.activation=relu",
            "model.init=he_normal",
            "model.dropout=0.2",
        ],
        &["model.activation=prelu", "model.init=he_uniform"],
        &["model.activation=gelu", "model.init=he_normal"],
    ] {
        assert_agrees(overrides, RATIO_TOLERANCE, PROFILE_TOLERANCE);
    }
}

/// Two input features (the spirals) and SELU with LeCun weights, whose χ depends
/// strongly on the pre-activation variance, and so on each example's |x|² (the
/// spirals' points lie from the centre out). With two classes the output gradient of
/// every example points along one direction, so the finite width shows more: measured
/// (seeds 1–3) per layer within 4.3–8.6%, profile within 5.2–19.1%; tolerances 12% and
/// 25%. A single q_1 from the mean |x|² instead of one per group of examples was off by
/// 50–73% here.
#[test]
fn two_feature_input_with_selu_follows_the_prediction() {
    assert_agrees(
        &[
            "model.activation=selu",
            "model.init=lecun_normal",
            "task.kind=spirals",
        ],
        0.12,
        0.25,
    );
}
