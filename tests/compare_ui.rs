//! Several runs in the app, driven headless with egui_kittest: the run list, duplicating
//! a run with one change, the comparison on one colour scale and its aligned steps,
//! deleting and undoing it, and a session of two runs saved and opened again.

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::{By, NodeT, Queryable};
use gradlab::history::RunHistory;
use gradlab::train::{RunState, StepRecord};
use gradlab::ui::{GradLabApp, LiveRun, Notice, Phase};

/// Frames stepped at most while waiting for the trainer thread; the bound only guards
/// against a hang.
const MAX_FRAMES: usize = 20_000;

fn harness() -> Harness<'static, GradLabApp> {
    common::app_harness(&["model.depth=3", "model.width=16", "train.steps=100000"])
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

/// The run list's name field holding `name`.
fn name_field(name: &str) -> By<'_> {
    By::new().role(egui::Role::TextInput).value(name)
}

fn run_named<'a>(app: &'a GradLabApp, name: &str) -> Option<&'a LiveRun> {
    app.runs.iter().find(|r| r.name == name)
}

fn steps_of(app: &GradLabApp, name: &str) -> u64 {
    run_named(app, name).map_or(0, |r| r.history.last_step())
}

fn phase_of(app: &GradLabApp, name: &str) -> Option<Phase> {
    run_named(app, name).map(|r| r.phase.clone())
}

/// Starts the selected run and waits for its first steps.
fn start(harness: &mut Harness<'_, GradLabApp>, name: &str) {
    harness.get_by_label("Start").click();
    step_until(harness, "the first steps", |app| steps_of(app, name) >= 3);
}

/// Pauses the selected run, `name`, and waits until the trainer has.
fn pause(harness: &mut Harness<'_, GradLabApp>, name: &str) {
    harness.get_by_label("Pause").click();
    step_until(harness, "the run to pause", |app| {
        phase_of(app, name) == Some(Phase::Trainer(RunState::Paused))
    });
}

/// Starts run 1, duplicates it with a depth of 5 and starts that too.
fn two_runs(harness: &mut Harness<'_, GradLabApp>) {
    start(harness, "run 1");
    harness.get_by_label("Duplicate").click();
    harness.run_steps(2);
    {
        let app = harness.state();
        assert_eq!(app.runs.len(), 2);
        let copy = app.run().expect("the copy is selected");
        assert_eq!(copy.name, "run 2");
        assert_eq!(copy.phase, Phase::NotStarted);
        assert_eq!(copy.config, app.runs[0].config);
    }
    // The one change, as the Architecture panel makes it.
    harness.state_mut().draft.model.depth = 5;
    harness.run_steps(2);
    assert_eq!(harness.state().runs[1].config.model.depth, 5);
    start(harness, "run 2");
}

#[test]
fn a_duplicate_with_one_change_trains_beside_the_first_and_shows_its_difference() {
    let mut harness = harness();
    two_runs(&mut harness);

    // Both train, in turn: the first run goes on while the second runs.
    let first_at = steps_of(harness.state(), "run 1");
    step_until(&mut harness, "both runs to go on", |app| {
        steps_of(app, "run 1") > first_at + 5 && steps_of(app, "run 2") > 10
    });

    // The run list names both, with the second's difference from the first.
    harness.run_steps(1);
    assert!(harness.query(name_field("run 1")).is_some());
    assert!(harness.query(name_field("run 2")).is_some());
    assert!(harness.query_by_label("depth 5 (not 3)").is_some());
    assert_eq!(
        harness
            .query_all_by_label_contains("running · step")
            .count(),
        2
    );
    assert!(
        harness
            .query_by_label_contains("1 other run training")
            .is_some()
    );

    // Pausing the selected run leaves the other one training.
    harness.get_by_label("Pause").click();
    step_until(&mut harness, "the pause", |app| {
        phase_of(app, "run 2") == Some(Phase::Trainer(RunState::Paused))
    });
    let paused_at = steps_of(harness.state(), "run 2");
    let first_at = steps_of(harness.state(), "run 1");
    step_until(&mut harness, "the first run to go on", |app| {
        steps_of(app, "run 1") > first_at + 20
    });
    assert_eq!(steps_of(harness.state(), "run 2"), paused_at);
}

#[test]
fn the_comparison_draws_every_ticked_run_on_one_shared_scale() {
    let mut harness = harness();
    two_runs(&mut harness);

    harness.get_by_label("Compare (2)").click();
    harness.run_steps(3);
    assert!(harness.state().comparing);
    let metric = "weight gradient";
    assert!(
        harness
            .query_by_label_contains(&format!("heatmap of run 1: {metric}"))
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains(&format!("heatmap of run 2: {metric}"))
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("shared scale, 2 runs")
            .is_some()
    );
    // The gradient-flow chart below, at the newest step both runs reached.
    let common = {
        let app = harness.state();
        steps_of(app, "run 1").min(steps_of(app, "run 2"))
    };
    assert!(common >= 3);
    assert!(
        harness
            .query_by_label_contains(&format!("{metric} |∂L/∂W| at step"))
            .is_some()
    );

    // Unticking a run takes it out of the comparison.
    harness.get_by_label("compare run 1").click();
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("heatmap of run 1")
            .is_none()
    );
    assert!(
        harness
            .query_by_label_contains("shared scale, 1 run")
            .is_some()
    );
    assert!(harness.query_by_label("Compare (1)").is_some());

    // Back to the selected run alone.
    harness.get_by_label("Selected run").click();
    harness.run_steps(2);
    assert!(!harness.state().comparing);
    assert!(harness.query_by_label_contains("heatmap of run").is_none());
}

/// True if `name`'s record holds every step from its first to its last, once each.
fn has_every_step(app: &GradLabApp, name: &str) -> bool {
    run_named(app, name).is_some_and(|r| {
        let history = &r.history;
        history.len() as u64 == history.last_step() + 1 - history.step_of(0)
    })
}

#[test]
fn a_deleted_run_comes_back_with_undo_and_trains_on_from_its_last_step() {
    let mut harness = harness();
    two_runs(&mut harness);

    // Deleting needs no confirmation: run 2 leaves the list at once, run 1 trains on.
    harness.get_by_label("Delete").click();
    harness.run_steps(1);
    assert_eq!(harness.state().runs.len(), 1);
    assert_eq!(
        harness.state().run().map(|r| r.name.as_str()),
        Some("run 1")
    );
    let at = steps_of(harness.state(), "run 1");
    step_until(&mut harness, "run 1 to go on", |app| {
        steps_of(app, "run 1") > at + 5
    });
    harness.run_steps(1);

    // Undo puts it back where it was, selected, with every step it took, and it goes
    // on training.
    harness.get_by_label("Undo delete of run 2").click();
    harness.run_steps(1);
    {
        let app = harness.state();
        let names: Vec<&str> = app.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["run 1", "run 2"]);
        assert_eq!(app.run().map(|r| r.name.as_str()), Some("run 2"));
        assert_eq!(app.runs[1].config.model.depth, 5);
    }
    let back_at = steps_of(harness.state(), "run 2");
    assert!(back_at >= 3);
    step_until(&mut harness, "run 2 to train on", |app| {
        steps_of(app, "run 2") > back_at + 5
            && phase_of(app, "run 2") == Some(Phase::Trainer(RunState::Running))
    });
    assert!(has_every_step(harness.state(), "run 2"));
    assert!(harness.query_by_label_contains("Undo delete").is_none());

    // Only the last deleted run can come back: deleting run 2 and then run 1 leaves a
    // fresh run in the empty list, and Undo brings back run 1, not run 2.
    harness.get_by_label("Delete").click();
    harness.run_steps(1);
    harness.get_by_label("Delete").click();
    harness.run_steps(2);
    {
        let app = harness.state();
        assert_eq!(app.runs.len(), 1);
        assert!(!app.runs[0].is_started());
    }
    assert!(harness.query_by_label("Undo delete of run 2").is_none());
    harness.get_by_label("Undo delete of run 1").click();
    harness.run_steps(1);
    let app = harness.state();
    let names: Vec<&str> = app.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["run 1"]);
    assert!(app.runs[0].is_started());
    let at = steps_of(app, "run 1");
    step_until(&mut harness, "run 1 to train on", |app| {
        steps_of(app, "run 1") > at + 5
    });
    assert!(has_every_step(harness.state(), "run 1"));
}

#[test]
fn a_two_run_session_saves_and_opens_with_its_names_ticks_and_selection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("two.json");
    let mut harness = harness();
    two_runs(&mut harness);
    pause(&mut harness, "run 2");
    harness.state_mut().runs[1].name = "deeper".into();
    harness.get_by_label("compare run 1").click();
    harness.run_steps(2);
    harness.get_by_label("Compare (1)").click();
    harness.run_steps(2);

    harness.state_mut().save_session(Some(path.clone()));
    step_until(
        &mut harness,
        "the save",
        |app| matches!(&app.notice, Some(Notice::Info(text)) if text.starts_with("saved")),
    );
    let saved: Vec<u64> = harness
        .state()
        .runs
        .iter()
        .map(|r| r.history.last_step())
        .collect();

    // A new app opens the file as it was.
    let mut reopened = self::harness();
    reopened.state_mut().open_session(&path);
    step_until(&mut reopened, "both runs to open", |app| {
        app.runs.len() == 2
            && app
                .runs
                .iter()
                .all(|r| matches!(r.phase, Phase::Trainer(RunState::Paused)))
    });
    let app = reopened.state();
    let names: Vec<&str> = app.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["run 1", "deeper"]);
    let depths: Vec<usize> = app.runs.iter().map(|r| r.config.model.depth).collect();
    assert_eq!(depths, [3, 5]);
    let steps: Vec<u64> = app.runs.iter().map(|r| r.history.last_step()).collect();
    // The first run was still training when saved; the file holds what it had then.
    assert_eq!(steps[1], saved[1]);
    assert!(steps[0] >= 3);
    let ticks: Vec<bool> = app.runs.iter().map(|r| r.compared).collect();
    assert_eq!(ticks, [false, true]);
    assert!(app.comparing);
    assert_eq!(app.run().map(|r| r.name.as_str()), Some("deeper"));
    reopened.run_steps(2);
    assert!(reopened.query(name_field("deeper")).is_some());
    assert!(
        reopened
            .query_by_label_contains("heatmap of deeper")
            .is_some()
    );

    // The selected run continues where it stopped.
    reopened.get_by_label("Resume").click();
    step_until(&mut reopened, "deeper to go on", |app| {
        steps_of(app, "deeper") > saved[1] + 3
    });
}

/// A made-up record of `steps` steps of a net with `num_layers` layers.
fn made_up_history(num_layers: usize, steps: u64) -> RunHistory {
    let mut history = RunHistory::new(num_layers);
    for step in 1..=steps {
        let per_layer = |value: f64| vec![value; num_layers];
        let record = StepRecord {
            step,
            loss: 2.0 / step as f64,
            accuracy: 0.5,
            lr: 0.1,
            grad_norm_total: 1.0,
            grad_norm_clipped: 1.0,
            weight_grad_norm: (0..num_layers).map(|l| 10f64.powi(-(l as i32))).collect(),
            activation_grad_norm: per_layer(0.1),
            update_ratio: per_layer(1e-3),
            saturated_fraction: per_layer(0.0),
            dead_fraction: per_layer(0.0),
            activation_mean: per_layer(0.0),
            activation_std: per_layer(1.0),
            ..StepRecord::default()
        };
        assert!(history.push(&record));
    }
    history
}

/// The step range a compared heatmap says it shows: "steps A to B on screen".
fn shown_steps(harness: &Harness<'_, GradLabApp>, name: &str) -> (String, egui::Rect) {
    let wanted = format!("heatmap of {name}:");
    let node = harness.get_by_label_contains(&wanted);
    let label = node.accesskit_node().label().unwrap_or_default();
    let range = label
        .split_once(", steps ")
        .map(|(_, range)| range.to_owned())
        .unwrap_or_default();
    (range, node.rect())
}

#[test]
fn compared_heatmaps_put_each_step_at_the_same_place_whatever_their_lengths() {
    let mut harness = harness();
    {
        let app = harness.state_mut();
        let mut shallow = app.draft.clone();
        shallow.model.depth = 3;
        let mut deep = app.draft.clone();
        deep.model.depth = 20;
        let mut short = LiveRun::from_history(50, shallow, made_up_history(4, 400));
        short.name = "short".into();
        let mut long = LiveRun::from_history(51, deep, made_up_history(21, 3000));
        long.name = "long".into();
        app.add_run(short);
        app.add_run(long);
        app.comparing = true;
    }
    harness.run_steps(4);

    // One step range for both, that of the longer run, on plot areas that line up: a
    // step is at the same x in both, though their layer labels differ in width.
    let (short_range, short_rect) = shown_steps(&harness, "short");
    let (long_range, long_rect) = shown_steps(&harness, "long");
    assert_eq!(short_range, "1 to 3000 on screen");
    assert_eq!(long_range, short_range);
    assert!(
        (short_rect.left() - long_rect.left()).abs() < 0.5
            && (short_rect.right() - long_rect.right()).abs() < 0.5,
        "plot areas {short_rect:?} and {long_rect:?} do not line up"
    );

    // Dragging one heatmap to the left pans both alike.
    let from = long_rect.center();
    let to = from - egui::vec2(long_rect.width() / 5.0, 0.0);
    harness.drag_at(from);
    harness.step();
    harness.hover_at(to);
    harness.step();
    harness.drop_at(to);
    harness.run_steps(4);
    let (short_range, short_rect) = shown_steps(&harness, "short");
    let (long_range, long_rect) = shown_steps(&harness, "long");
    assert_ne!(long_range, "1 to 3000 on screen", "the drag did not pan");
    assert_eq!(short_range, long_range);
    let first: f64 = long_range
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    // A fifth of the width is a fifth of the 3000 steps.
    assert!((first - 601.0).abs() < 60.0, "{long_range}");
    assert!((short_rect.left() - long_rect.left()).abs() < 0.5);
}

#[test]
fn opening_over_unsaved_edits_asks_first_and_cancel_keeps_the_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("two.json");
    let mut harness = harness();
    two_runs(&mut harness);
    // Both paused, so that no new step counts as unsaved work.
    pause(&mut harness, "run 2");
    let first = harness.state().runs[0].run_id;
    harness.state_mut().select(first);
    harness.run_steps(2);
    pause(&mut harness, "run 1");
    harness.state_mut().save_session(Some(path.clone()));
    step_until(&mut harness, "the save", |app| !app.unsaved);

    // A tick is part of the session: changing one leaves unsaved work.
    harness.get_by_label("compare run 1").click();
    harness.run_steps(2);
    assert!(harness.state().unsaved, "a changed tick is unsaved work");
    let ticks: Vec<bool> = harness.state().runs.iter().map(|r| r.compared).collect();

    harness.state_mut().open_session(&path);
    harness.run_steps(2);
    assert!(harness.query_by_label("Save before opening?").is_some());
    harness.get_by_label("Cancel").click();
    harness.run_steps(2);
    assert!(harness.query_by_label("Save before opening?").is_none());
    let app = harness.state();
    assert_eq!(app.runs.len(), 2);
    assert_eq!(
        app.runs.iter().map(|r| r.compared).collect::<Vec<_>>(),
        ticks
    );

    // Opening without saving brings back the file's ticks.
    harness.state_mut().open_session(&path);
    harness.run_steps(2);
    harness.get_by_label("Open without saving").click();
    step_until(
        &mut harness,
        "the file to open",
        |app| matches!(&app.notice, Some(Notice::Info(text)) if text.starts_with("opened")),
    );
    let reopened: Vec<bool> = harness.state().runs.iter().map(|r| r.compared).collect();
    assert_ne!(reopened, ticks);
    assert!(!harness.state().unsaved);
}

#[test]
fn a_runs_state_in_the_run_list_leaves_the_comparison_and_its_name_does_not() {
    let mut harness = harness();
    two_runs(&mut harness);
    harness.get_by_label("Compare (2)").click();
    harness.run_steps(2);
    assert!(harness.state().comparing);
    // Clicking into a name to rename it keeps the comparison on screen.
    harness.get(name_field("run 1")).click();
    harness.run_steps(2);
    assert!(harness.state().comparing);
    let first = harness.state().runs[0].run_id;
    assert_eq!(harness.state().run().map(|r| r.run_id), Some(first));
    // Clicking its state shows it alone.
    if let Some(state) = harness.get_all_by_label_contains("running · step").next() {
        state.click();
    }
    harness.run_steps(2);
    assert!(!harness.state().comparing, "the run is shown alone");
}

#[test]
fn each_run_keeps_its_colour_when_another_is_deleted_and_a_new_one_takes_a_free_colour() {
    let mut harness = harness();
    for _ in 0..3 {
        harness.get_by_label("Duplicate").click();
        harness.run_steps(2);
    }
    let colours = |app: &GradLabApp| -> Vec<(String, usize)> {
        app.runs.iter().map(|r| (r.name.clone(), r.color)).collect()
    };
    let four = colours(harness.state());
    let distinct: std::collections::BTreeSet<usize> = four.iter().map(|(_, c)| *c).collect();
    assert_eq!(distinct.len(), 4, "{four:?}");

    // Deleting run 2 leaves every other run its colour.
    let second = harness.state().runs[1].run_id;
    harness.state_mut().select(second);
    harness.run_steps(2);
    harness.get_by_label("Delete").click();
    harness.run_steps(2);
    let three = colours(harness.state());
    let expected: Vec<(String, usize)> = four
        .iter()
        .filter(|(name, _)| name != "run 2")
        .cloned()
        .collect();
    assert_eq!(three, expected);

    // The next run takes the colour no run has now: run 2's.
    harness.get_by_label("Duplicate").click();
    harness.run_steps(2);
    let newest = harness.state().runs.last().map(|r| r.color);
    assert_eq!(newest, Some(four[1].1));
}
