//! The theory line in the app's layer profile, driven headless with egui_kittest: it is
//! listed in the profile's legend for the back-propagated gradient once step 1 is in,
//! with the run's χ, and not for other metrics or for nets it does not apply to.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gradlab::config::apply_override;
use gradlab::train::LayerMetric;
use gradlab::ui::GradLabApp;

/// Frames stepped at most while waiting for the trainer thread; only a guard against a
/// hang.
const MAX_FRAMES: usize = 20_000;
const LEGEND_PREFIX: &str = "theory at init (χ = ";

fn harness(assignments: &[&str], metric: LayerMetric) -> Harness<'static, GradLabApp> {
    let ctx = egui::Context::default();
    let mut app = GradLabApp::new(&ctx, None);
    for assignment in assignments {
        app.draft = apply_override(&app.draft, assignment).expect("valid override");
    }
    app.metric = metric;
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut GradLabApp| app.frame_ui(ui), app)
}

/// Starts the run and steps frames until a few training steps are on screen.
fn start_and_train(harness: &mut Harness<'_, GradLabApp>) {
    harness.run_steps(2);
    harness.get_by_label("Start").click();
    for _ in 0..MAX_FRAMES {
        harness.step();
        let steps = harness.state().run().map_or(0, |r| r.history.last_step());
        if steps >= 3 {
            harness.get_by_label("Pause").click();
            harness.run_steps(3);
            return;
        }
        std::thread::yield_now();
    }
    panic!("gave up waiting for the first steps");
}

const SMALL_TANH: [&str; 5] = [
    "model.depth=4",
    "model.width=32",
    "model.activation=tanh",
    "model.init=standard",
    "train.steps=100000",
];

#[test]
fn legend_names_the_theory_line_with_chi() {
    let mut harness = harness(&SMALL_TANH, LayerMetric::ActivationGradNorm);
    start_and_train(&mut harness);

    let theory = harness
        .state()
        .run()
        .and_then(|r| r.theory.clone())
        .expect("a prediction for a plain tanh net");
    let label = format!(
        "theory at init ({})",
        theory.chi_label().expect("more than one hidden layer")
    );
    assert!(label.starts_with(LEGEND_PREFIX), "{label}");
    harness.get_by_label(&label);
}

#[test]
fn no_theory_line_for_other_metrics_or_batch_norm() {
    let mut weights = harness(&SMALL_TANH, LayerMetric::WeightGradNorm);
    start_and_train(&mut weights);
    assert!(weights.query_by_label_contains(LEGEND_PREFIX).is_none());

    let mut with_batch_norm = SMALL_TANH.to_vec();
    with_batch_norm.push("model.batch_norm=true");
    let mut batch_norm = harness(&with_batch_norm, LayerMetric::ActivationGradNorm);
    start_and_train(&mut batch_norm);
    let run = batch_norm.state().run();
    assert!(run.is_some_and(|r| r.theory.is_none()));
    assert!(batch_norm.query_by_label_contains(LEGEND_PREFIX).is_none());
}
