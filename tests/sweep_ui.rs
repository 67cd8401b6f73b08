//! Sweeps in the app, driven headless with egui_kittest: the dialog checks the values
//! typed, the queue trains one run at a time in the background, each run appears in the
//! list when it starts, and Cancel drops what waits.

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gradlab::train::RunState;
use gradlab::ui::{GradLabApp, Notice, Phase};

/// Frames stepped at most while waiting for the trainer thread; the bound only guards
/// against a hang.
const MAX_FRAMES: usize = 50_000;

/// An app whose run 1, not started, is a small net on xor that trains `steps` steps.
fn harness(steps: u64) -> Harness<'static, GradLabApp> {
    let steps = format!("train.steps={steps}");
    common::app_harness(&["task.kind=xor", "model.depth=3", "model.width=8", &steps])
}

/// Steps frames until `done` holds, checking `always` on every frame; fails the test
/// after `MAX_FRAMES`.
fn step_until(
    harness: &mut Harness<'_, GradLabApp>,
    what: &str,
    mut always: impl FnMut(&GradLabApp),
    done: impl Fn(&GradLabApp) -> bool,
) {
    for _ in 0..MAX_FRAMES {
        harness.step();
        always(harness.state());
        if done(harness.state()) {
            return;
        }
        std::thread::yield_now();
    }
    panic!("gave up waiting for {what}");
}

/// Opens the sweep dialog on the selected run and types `values` for the key it
/// offers first, model.depth.
fn type_sweep(harness: &mut Harness<'_, GradLabApp>, values: &str) {
    harness.get_by_label("Sweep…").click();
    harness.run_steps(2);
    assert_eq!(
        harness.get_by_label("setting:").value().as_deref(),
        Some("model.depth (now 3)"),
        "the dialog offers model.depth with its current value"
    );
    harness.get_by_label("values:").focus();
    harness.run_steps(1);
    harness.get_by_label("values:").type_text(values);
    harness.run_steps(2);
}

fn names(app: &GradLabApp) -> Vec<String> {
    app.runs.iter().map(|r| r.name.clone()).collect()
}

#[test]
fn a_sweep_of_three_values_trains_them_one_after_another_then_compares_them() {
    // Run 1 would train long; the sweep's runs train 40 steps each.
    let mut harness = harness(100_000);
    let base = harness.state().draft.clone();
    type_sweep(&mut harness, "2, 3, 4");
    let steps_each = harness.get_by_label("steps each:");
    assert_eq!(steps_each.value().as_deref(), Some("100000"));
    steps_each.set_value_accesskit(40.0);
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label("queues 3 runs: depth 2, depth 3, depth 4")
            .is_some()
    );
    harness.get_by_label("Queue").click();

    // One at a time: whenever a run of the sweep trains, no other does; each appears
    // only once the one before it has finished.
    let mut appeared: Vec<String> = Vec::new();
    step_until(
        &mut harness,
        "the sweep to end",
        |app| {
            let live: Vec<&str> = app
                .runs
                .iter()
                .filter(|r| r.is_live())
                .map(|r| r.name.as_str())
                .collect();
            assert!(live.len() <= 1, "two runs train at once: {live:?}");
            // Run 1 held only settings and made way; the runs not started yet wait in
            // the queue, in order.
            assert!(app.runs.iter().all(|r| r.name != "run 1"));
            let waiting: Vec<String> = app
                .sweep()
                .map(|s| s.pending().map(|r| r.name.clone()).collect())
                .unwrap_or_default();
            let expected: Vec<String> = ["depth 2", "depth 3", "depth 4"]
                .into_iter()
                .filter(|name| app.runs.iter().all(|r| r.name != *name))
                .map(str::to_owned)
                .collect();
            assert_eq!(waiting, expected);
            for run in &app.runs {
                if !appeared.contains(&run.name) {
                    let before = app.runs.iter().filter(|r| r.name != run.name);
                    assert!(
                        before
                            .clone()
                            .all(|r| r.phase == Phase::Trainer(RunState::Finished)),
                        "{} started before the runs ahead of it finished",
                        run.name
                    );
                    appeared.push(run.name.clone());
                }
            }
        },
        |app| app.sweep().is_none(),
    );
    assert_eq!(appeared, ["depth 2", "depth 3", "depth 4"]);

    let app = harness.state();
    assert_eq!(names(app), ["depth 2", "depth 3", "depth 4"]);
    let depths: Vec<usize> = app.runs.iter().map(|r| r.config.model.depth).collect();
    assert_eq!(depths, [2, 3, 4]);
    // Nothing else changed: each is run 1's settings with its depth.
    for run in &app.runs {
        let mut expected = base.clone();
        expected.model.depth = run.config.model.depth;
        expected.train.steps = 40;
        assert_eq!(run.config, expected);
        assert_eq!(run.history.last_step(), 40);
        assert_eq!(run.history.num_layers(), run.config.model.depth + 1);
        assert_eq!(run.phase, Phase::Trainer(RunState::Finished));
        assert!(run.compared, "{} is ticked for the comparison", run.name);
    }
    assert!(app.comparing, "the comparison of the sweep is on screen");
    harness.run_steps(2);
    assert!(harness.query_by_label("Compare (3)").is_some());
    for name in ["depth 2", "depth 3", "depth 4"] {
        assert!(
            harness
                .query_by_label_contains(&format!("heatmap of {name}:"))
                .is_some()
        );
    }
    assert!(harness.query_by_label_contains("queued:").is_none());
}

#[test]
fn a_bad_value_is_named_with_what_is_allowed_and_nothing_is_queued() {
    let mut harness = harness(40);
    type_sweep(&mut harness, "5, 0, many");
    // Checked as typed: one message per bad value.
    assert!(
        harness
            .query_by_label_contains("`0`: model.depth=0 is out of range; allowed: 1 to 100")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("`many`: model.depth=many")
            .is_some()
    );
    assert!(
        harness.query_by_label_contains("`5`").is_none(),
        "a good value is not blamed"
    );

    harness.get_by_label("Queue").click();
    harness.run_steps(3);
    assert!(harness.query_by_label("Nothing was queued.").is_some());
    let app = harness.state();
    assert!(app.sweep().is_none());
    assert_eq!(names(app), ["run 1"]);
    assert!(app.runs.iter().all(|r| !r.is_started()));
}

#[test]
fn cancelling_drops_the_queued_runs_and_pauses_the_one_training() {
    let mut harness = harness(1_000_000);
    type_sweep(&mut harness, "2, 3, 4");
    harness.get_by_label("Queue").click();
    step_until(
        &mut harness,
        "the first run's steps",
        |_| {},
        |app| app.runs[0].history.last_step() >= 3,
    );
    harness.run_steps(1);
    assert!(
        harness
            .query_by_label_contains("queued: depth 3, depth 4")
            .is_some()
    );

    harness.get_by_label("Cancel sweep").click();
    step_until(
        &mut harness,
        "depth 2 to pause",
        |_| {},
        |app| app.runs[0].phase == Phase::Trainer(RunState::Paused),
    );
    let app = harness.state();
    assert!(app.sweep().is_none());
    assert_eq!(names(app), ["depth 2"]);
    let kept = app.runs[0].history.last_step();
    assert!(kept >= 3, "the paused run keeps its steps");

    // Nothing waits any more: however long the app runs, no other run starts.
    harness.run_steps(50);
    let app = harness.state();
    assert_eq!(names(app), ["depth 2"]);
    assert_eq!(app.runs[0].history.last_step(), kept);
    assert!(harness.query_by_label_contains("queued:").is_none());
}

#[test]
fn two_at_a_time_starts_two_runs_and_the_third_when_one_ends() {
    let mut harness = harness(60);
    type_sweep(&mut harness, "2, 3, 4");
    harness.get_by_label("2").click();
    harness.run_steps(1);
    harness.get_by_label("Queue").click();

    // The first two start together; never more than two train; the third starts only
    // once one of them has finished.
    let mut most_live = 0;
    step_until(
        &mut harness,
        "the sweep to end",
        |app| {
            let live = app.runs.iter().filter(|r| r.is_live()).count();
            assert!(live <= 2, "{live} runs train at once");
            most_live = most_live.max(live);
            if app.runs.iter().any(|r| r.name == "depth 4") {
                assert!(
                    app.runs
                        .iter()
                        .any(|r| r.phase == Phase::Trainer(RunState::Finished)),
                    "depth 4 started before either run ahead of it finished"
                );
            } else if app.runs.iter().any(|r| r.name == "depth 2") {
                assert_eq!(names(app), ["depth 2", "depth 3"]);
            }
        },
        |app| app.sweep().is_none(),
    );
    assert_eq!(most_live, 2);
    let app = harness.state();
    assert_eq!(names(app), ["depth 2", "depth 3", "depth 4"]);
    assert!(
        app.runs
            .iter()
            .all(|r| r.history.last_step() == 60 && r.compared)
    );
}

/// Queues a sweep of depth over 2, 3 and 4, one at a time, each run far too long to
/// finish during the test, and pauses depth 2 after its first steps: it holds the
/// sweep's one place, and depth 3 and depth 4 wait. Returns the step depth 2 paused at.
fn queue_then_pause(harness: &mut Harness<'_, GradLabApp>) -> u64 {
    type_sweep(harness, "2, 3, 4");
    harness.get_by_label("Queue").click();
    step_until(
        harness,
        "depth 2's first steps",
        |_| {},
        |app| app.runs[0].history.last_step() >= 3,
    );
    harness.get_by_label("Pause").click();
    step_until(
        harness,
        "depth 2 to pause",
        |_| {},
        |app| app.runs[0].phase == Phase::Trainer(RunState::Paused),
    );
    harness.state().runs[0].history.last_step()
}

/// Saves the session to `path` and waits until it is written.
fn save(harness: &mut Harness<'_, GradLabApp>, path: &std::path::Path) {
    harness.state_mut().save_session(Some(path.to_owned()));
    step_until(
        harness,
        "the save",
        |_| {},
        |app| matches!(&app.notice, Some(Notice::Info(text)) if text.starts_with("saved")),
    );
}

#[test]
fn a_saved_sweep_opens_waiting_and_continues_where_it_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sweep.json");
    let mut harness = harness(100_000);
    let paused_at = queue_then_pause(&mut harness);
    save(&mut harness, &path);
    drop(harness);

    // A new app opens the file: the sweep is back, waiting, and nothing trains.
    let mut reopened = self::harness(100_000);
    reopened.state_mut().open_session(&path);
    step_until(
        &mut reopened,
        "the session to open",
        |_| {},
        |app| {
            app.runs.len() == 1
                && app.runs[0].phase == Phase::Trainer(RunState::Paused)
                && app.sweep().is_some()
        },
    );
    reopened.run_steps(30);
    let app = reopened.state();
    assert_eq!(names(app), ["depth 2"]);
    assert_eq!(app.runs[0].history.last_step(), paused_at);
    assert_eq!(app.runs[0].phase, Phase::Trainer(RunState::Paused));
    let sweep = app.sweep().expect("the sweep came back");
    assert!(sweep.is_waiting());
    assert_eq!((sweep.key(), sweep.at_once()), ("model.depth", 1));
    let waiting: Vec<&str> = sweep.pending().map(|r| r.name.as_str()).collect();
    assert_eq!(waiting, ["depth 3", "depth 4"]);
    assert_eq!(sweep.started(), [app.runs[0].run_id]);
    assert!(
        reopened
            .query_by_label_contains("waiting: 2 runs remain")
            .is_some()
    );
    assert!(
        reopened
            .query_by_label_contains("paused: depth 2")
            .is_some()
    );
    assert!(reopened.query_by_label("Cancel sweep").is_some());

    // Continue: depth 2 goes on from its own step, and holds the sweep's one place.
    reopened.get_by_label("Continue sweep").click();
    step_until(
        &mut reopened,
        "depth 2 to go on",
        |app| assert_eq!(names(app), ["depth 2"], "a run started beside depth 2"),
        |app| app.runs[0].history.last_step() >= paused_at + 3,
    );
    let app = reopened.state();
    assert_eq!(app.runs[0].phase, Phase::Trainer(RunState::Running));
    assert_eq!(
        app.runs[0].history.len() as u64,
        app.runs[0].history.last_step()
    );
    assert!(app.sweep().is_some_and(|s| !s.is_waiting()));
    reopened.run_steps(1);
    assert!(reopened.query_by_label("Continue sweep").is_none());

    // Once depth 2 ends (here: stopped), depth 3 takes its place, as in a live sweep.
    reopened.get_by_label("Stop").click();
    step_until(
        &mut reopened,
        "depth 3 to start",
        |app| {
            let live = app.runs.iter().filter(|r| r.is_live()).count();
            assert!(live <= 1, "two runs train at once");
        },
        |app| {
            app.runs
                .iter()
                .any(|r| r.name == "depth 3" && r.history.last_step() >= 1)
        },
    );
    let app = reopened.state();
    assert_eq!(names(app), ["depth 2", "depth 3"]);
    assert_eq!(app.runs[0].phase, Phase::Trainer(RunState::Stopped));
    assert_eq!(app.runs[1].config.model.depth, 3);
    let sweep = app.sweep().expect("depth 4 still waits");
    let waiting: Vec<&str> = sweep.pending().map(|r| r.name.as_str()).collect();
    assert_eq!(waiting, ["depth 4"]);
    assert!(sweep.owns(app.runs[1].run_id));
    reopened.get_by_label("Cancel sweep").click();
    reopened.run_steps(1);
}

#[test]
fn a_session_with_a_bad_sweep_is_refused_and_the_app_keeps_what_it_has() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.json");
    let bad = dir.path().join("bad.json");
    let mut harness = harness(100_000);
    let paused_at = queue_then_pause(&mut harness);
    save(&mut harness, &good);
    let text = std::fs::read_to_string(&good).expect("the saved session");
    let mut tree: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    tree["sweep"]["at_once"] = 5.into();
    std::fs::write(&bad, tree.to_string()).expect("the bad copy");

    harness.state_mut().open_session(&bad);
    step_until(
        &mut harness,
        "the refusal",
        |_| {},
        |app| matches!(app.notice, Some(Notice::Error(_))),
    );
    let app = harness.state();
    let Some(Notice::Error(message)) = &app.notice else {
        unreachable!("the loop above waited for an error");
    };
    assert!(
        message.contains("the sweep's `at_once` is 5; a sweep trains 1 to 2 runs at a time"),
        "{message}"
    );
    // Nothing was lost: the run, its steps and the sweep are still there.
    assert_eq!(names(app), ["depth 2"]);
    assert_eq!(app.runs[0].history.last_step(), paused_at);
    let sweep = app.sweep().expect("the sweep is still queued");
    assert!(!sweep.is_waiting());
    let waiting: Vec<&str> = sweep.pending().map(|r| r.name.as_str()).collect();
    assert_eq!(waiting, ["depth 3", "depth 4"]);
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("queued: depth 3, depth 4")
            .is_some()
    );
}
