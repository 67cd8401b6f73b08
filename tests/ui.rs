//! The app driven headless with egui_kittest: the run controls do what they say.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gradlab::config::apply_override;
use gradlab::ui::GradLabApp;

/// Frames stepped at most while waiting for the trainer thread. Each frame is cheap,
/// and the trainer runs independently, so the bound only guards against a hang.
const MAX_FRAMES: usize = 20_000;

fn small_app(ctx: &egui::Context) -> GradLabApp {
    let mut app = GradLabApp::new(ctx, None);
    // A small net keeps the test quick; the controls do not depend on the size.
    for assignment in ["model.depth=3", "model.width=16", "train.steps=100000"] {
        app.draft = apply_override(&app.draft, assignment).expect("valid override");
    }
    app
}

fn harness() -> Harness<'static, GradLabApp> {
    let ctx = egui::Context::default();
    let app = small_app(&ctx);
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut GradLabApp| app.frame_ui(ui), app)
}

fn last_step(harness: &Harness<'_, GradLabApp>) -> u64 {
    harness
        .state()
        .run
        .as_ref()
        .map_or(0, |r| r.history.last_step())
}

/// Steps frames until `done` holds; fails the test after `MAX_FRAMES`.
fn step_until(
    harness: &mut Harness<'_, GradLabApp>,
    what: &str,
    done: impl Fn(&GradLabApp) -> bool,
) {
    for _ in 0..MAX_FRAMES {
        harness.step();
        if done(harness.state()) {
            return;
        }
        std::thread::yield_now();
    }
    panic!("gave up waiting for {what}");
}

#[test]
fn start_pause_resume_reset() {
    let mut harness = harness();
    harness.run_steps(2);
    assert!(harness.state().run.is_none());

    harness.get_by_label("Start").click();
    step_until(&mut harness, "the first steps", |app| {
        app.run.as_ref().is_some_and(|r| r.history.last_step() >= 5)
    });

    harness.get_by_label("Pause").click();
    step_until(&mut harness, "the pause to take effect", |app| {
        app.run.as_ref().is_some_and(|r| {
            r.phase == gradlab::ui::Phase::Trainer(gradlab::train::RunState::Paused)
        })
    });
    // Paused: the step count stays put however many frames pass.
    harness.run_steps(5);
    let paused_at = last_step(&harness);
    for _ in 0..50 {
        harness.step();
    }
    assert_eq!(last_step(&harness), paused_at);

    harness.get_by_label("Step").click();
    step_until(&mut harness, "one step", |app| {
        app.run
            .as_ref()
            .is_some_and(|r| r.history.last_step() == paused_at + 1)
    });

    harness.get_by_label("Resume").click();
    step_until(&mut harness, "training to go on", |app| {
        app.run
            .as_ref()
            .is_some_and(|r| r.history.last_step() > paused_at + 5)
    });

    harness.get_by_label("Reset").click();
    harness.run_steps(2);
    assert!(harness.state().run.is_none());
    assert!(harness.query_by_label("Start").is_some());
}
