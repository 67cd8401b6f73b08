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
    harness.state().run().map_or(0, |r| r.history.last_step())
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
    assert!(!harness.state().run().is_some_and(|r| r.is_started()));

    harness.get_by_label("Start").click();
    step_until(&mut harness, "the first steps", |app| {
        app.run().is_some_and(|r| r.history.last_step() >= 5)
    });

    harness.get_by_label("Pause").click();
    step_until(&mut harness, "the pause to take effect", |app| {
        app.run().is_some_and(|r| {
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
        app.run()
            .is_some_and(|r| r.history.last_step() == paused_at + 1)
    });

    harness.get_by_label("Resume").click();
    step_until(&mut harness, "training to go on", |app| {
        app.run()
            .is_some_and(|r| r.history.last_step() > paused_at + 5)
    });

    harness.get_by_label("Reset").click();
    harness.run_steps(2);
    // The run is back to its settings alone, ready to start again.
    assert_eq!(
        harness.state().run().map(|r| r.phase.clone()),
        Some(gradlab::ui::Phase::NotStarted)
    );
    assert_eq!(last_step(&harness), 0);
    assert!(harness.query_by_label("Start").is_some());
}

fn paused(app: &GradLabApp) -> bool {
    app.run()
        .is_some_and(|r| r.phase == gradlab::ui::Phase::Trainer(gradlab::train::RunState::Paused))
}

/// Starts a run, lets it take a few steps and pauses it.
fn start_then_pause(harness: &mut Harness<'_, GradLabApp>) {
    harness.get_by_label("Start").click();
    step_until(harness, "a few steps", |app| {
        app.run().is_some_and(|r| r.history.last_step() >= 3)
    });
    harness.get_by_label("Pause").click();
    step_until(harness, "the pause", paused);
}

#[test]
fn save_reset_open_and_continue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("saved.json");
    let mut harness = harness();

    start_then_pause(&mut harness);
    let saved_at = last_step(&harness);

    harness.state_mut().save_session(Some(path.clone()));
    step_until(
        &mut harness,
        "the save",
        |app| matches!(&app.notice, Some(gradlab::ui::Notice::Info(text)) if text.starts_with("saved")),
    );
    assert!(path.exists());

    // A bad file changes nothing: the run on screen stays.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not a session").expect("write");
    harness.state_mut().open_session(&bad);
    step_until(&mut harness, "the refusal", |app| {
        matches!(app.notice, Some(gradlab::ui::Notice::Error(_)))
    });
    assert_eq!(last_step(&harness), saved_at);

    harness.get_by_label("Reset").click();
    harness.run_steps(2);
    assert_eq!(last_step(&harness), 0);

    harness.state_mut().open_session(&path);
    step_until(&mut harness, "the session to open, paused", paused);
    assert_eq!(last_step(&harness), saved_at);

    harness.get_by_label("Resume").click();
    step_until(
        &mut harness,
        "training to continue from the saved step",
        |app| {
            app.run()
                .is_some_and(|r| r.history.last_step() > saved_at + 3)
        },
    );
}

#[test]
fn changed_settings_ask_for_a_reset() {
    let mut harness = harness();
    harness.get_by_label("Start").click();
    step_until(&mut harness, "the first step", |app| {
        app.run().is_some_and(|r| r.history.last_step() >= 1)
    });
    assert!(harness.query_by_label_contains("Settings differ").is_none());
    harness.state_mut().draft.model.depth = 7;
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("Settings differ").is_some());
    // The run keeps the settings it started with.
    assert_eq!(harness.state().run().map(|r| r.config.model.depth), Some(3));
}

#[test]
fn a_recovered_run_counts_as_unsaved() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join(gradlab::ui::RECOVERY_FILE);
    let mut harness = harness();
    start_then_pause(&mut harness);
    harness.state_mut().save_session(Some(copy.clone()));
    step_until(&mut harness, "the save", |app| !app.unsaved);

    harness.get_by_label("Reset").click();
    harness.state_mut().open_session(&copy);
    step_until(&mut harness, "the copy to open", paused);
    // Closing now would ask first, and Save would not write back to the hidden copy.
    assert!(harness.state().unsaved);
}
