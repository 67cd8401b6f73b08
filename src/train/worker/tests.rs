//! The trainer thread driven through its handle, as the UI drives it.

use super::*;
use crate::config::apply_override;

fn tiny_config(steps: u64) -> Box<Config> {
    let mut config = Config::default();
    for assignment in ["model.depth=2", "model.width=8", "task.kind=xor"] {
        config = apply_override(&config, assignment).expect("valid override");
    }
    config.train.steps = steps;
    Box::new(config)
}

/// Drains until `done` holds for the events so far; bounded so a hang fails.
fn collect_until(worker: &Worker, done: impl Fn(&[WorkerEvent]) -> bool) -> Vec<WorkerEvent> {
    let mut events = Vec::new();
    for _ in 0..50_000_000u64 {
        events.extend(worker.drain());
        if done(&events) {
            return events;
        }
        std::thread::yield_now();
    }
    panic!("the worker never reported what was expected: {events:?}");
}

fn is_state(event: &WorkerEvent, run: u64, wanted: &RunState) -> bool {
    matches!(event, WorkerEvent::State { run_id, state } if *run_id == run && state == wanted)
}

/// The steps of `run` in the order they arrived.
fn steps_of(events: &[WorkerEvent], run: u64) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            WorkerEvent::Steps { run_id, records } if *run_id == run => {
                Some(records.iter().map(|r| r.step))
            }
            _ => None,
        })
        .flatten()
        .collect()
}

fn send(worker: &Worker, command: Command) {
    worker.send(command).expect("queue has room");
}

#[test]
fn every_step_arrives_once_and_in_order_then_the_run_finishes() -> std::io::Result<()> {
    let worker = Worker::spawn(Box::new(|| {}))?;
    send(
        &worker,
        Command::Start {
            run_id: 7,
            config: tiny_config(600),
        },
    );
    let events = collect_until(&worker, |events| {
        events.iter().any(|e| is_state(e, 7, &RunState::Finished))
    });

    assert_eq!(steps_of(&events, 7), (1..=600).collect::<Vec<_>>());
    assert!(matches!(
        &events[0],
        WorkerEvent::Started { run_id: 7, history } if history.num_layers() == 3
    ));
    Ok(())
}

#[test]
fn pause_holds_the_step_and_step_once_takes_exactly_one() -> std::io::Result<()> {
    let worker = Worker::spawn(Box::new(|| {}))?;
    let start = Command::Start {
        run_id: 1,
        config: tiny_config(1_000_000),
    };
    send(&worker, start);
    send(&worker, Command::Pause { run_id: 1 });
    let events = collect_until(&worker, |events| {
        events.iter().any(|e| is_state(e, 1, &RunState::Paused))
    });
    let last_step = |events: &[WorkerEvent]| steps_of(events, 1).last().copied();
    let paused_at = last_step(&events).unwrap_or(0);

    send(&worker, Command::StepOnce { run_id: 1 });
    send(&worker, Command::StepOnce { run_id: 1 });
    let more = collect_until(&worker, |events| last_step(events) == Some(paused_at + 2));
    assert_eq!(last_step(&more), Some(paused_at + 2));

    send(&worker, Command::Reset { run_id: 1 });
    send(&worker, Command::StepOnce { run_id: 1 });
    // After a reset the run is gone: a step command for it does nothing, and a new run
    // starts from step 1.
    send(
        &worker,
        Command::Start {
            run_id: 2,
            config: tiny_config(5),
        },
    );
    let after = collect_until(&worker, |events| {
        events.iter().any(|e| is_state(e, 2, &RunState::Finished))
    });
    assert!(steps_of(&after, 1).is_empty());
    assert_eq!(steps_of(&after, 2), [1, 2, 3, 4, 5]);
    Ok(())
}

#[test]
fn an_invalid_config_is_reported_not_panicked() -> std::io::Result<()> {
    let worker = Worker::spawn(Box::new(|| {}))?;
    let mut config = tiny_config(5);
    config.model.depth = 0;
    send(&worker, Command::Start { run_id: 3, config });
    let events = collect_until(&worker, |events| !events.is_empty());
    match &events[0] {
        WorkerEvent::Failed { run_id: 3, message } => {
            assert!(message.contains("model.depth"), "{message}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    Ok(())
}

#[test]
fn two_runs_train_interleaved_and_each_step_arrives_once_in_order() -> std::io::Result<()> {
    let worker = Worker::spawn(Box::new(|| {}))?;
    send(
        &worker,
        Command::Start {
            run_id: 1,
            config: tiny_config(1_000_000),
        },
    );
    let mut events = collect_until(&worker, |events| !steps_of(events, 1).is_empty());
    let mut deeper = tiny_config(200);
    deeper.model.depth = 4;
    send(
        &worker,
        Command::Start {
            run_id: 2,
            config: deeper,
        },
    );
    events.extend(collect_until(&worker, |events| {
        events.iter().any(|e| is_state(e, 2, &RunState::Finished))
    }));
    send(&worker, Command::Stop { run_id: 1 });
    events.extend(collect_until(&worker, |events| {
        events.iter().any(|e| is_state(e, 1, &RunState::Stopped))
    }));

    let first = steps_of(&events, 1);
    assert_eq!(first, (1..=first.len() as u64).collect::<Vec<_>>());
    assert_eq!(steps_of(&events, 2), (1..=200).collect::<Vec<_>>());
    // While the second run took its 200 steps, the first took its turns between them.
    let second_started = events
        .iter()
        .position(|e| matches!(e, WorkerEvent::Started { run_id: 2, .. }))
        .expect("the second run started");
    let first_meanwhile = steps_of(&events[second_started..], 1).len();
    assert!(first_meanwhile >= 199, "{first_meanwhile} steps");
    Ok(())
}

#[test]
fn pausing_or_resetting_one_run_leaves_the_other_running() -> std::io::Result<()> {
    let worker = Worker::spawn(Box::new(|| {}))?;
    for run_id in [1, 2] {
        send(
            &worker,
            Command::Start {
                run_id,
                config: tiny_config(1_000_000),
            },
        );
    }
    send(&worker, Command::Pause { run_id: 1 });
    let events = collect_until(&worker, |events| {
        events.iter().any(|e| is_state(e, 1, &RunState::Paused))
    });
    let paused_at = steps_of(&events, 1).last().copied().unwrap_or(0);
    let second_at = steps_of(&events, 2).last().copied().unwrap_or(0);

    let later = collect_until(&worker, |events| {
        steps_of(events, 2)
            .last()
            .is_some_and(|&s| s >= second_at + 100)
    });
    assert!(steps_of(&later, 1).is_empty(), "the paused run went on");

    send(&worker, Command::Reset { run_id: 2 });
    send(&worker, Command::Resume { run_id: 1 });
    let resumed = collect_until(&worker, |events| steps_of(events, 1).len() >= 50);
    assert_eq!(steps_of(&resumed, 1)[0], paused_at + 1);
    // Every step of the reset run that still arrives was taken before the reset, so
    // before the resumed run's first.
    let first_resumed = resumed
        .iter()
        .position(|e| matches!(e, WorkerEvent::Steps { run_id: 1, .. }))
        .unwrap_or(resumed.len());
    assert!(steps_of(&resumed[first_resumed..], 2).is_empty());
    Ok(())
}

#[test]
fn save_keeps_every_run_and_open_restores_them_all() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("two.json");
    let worker = Worker::spawn(Box::new(|| {}))?;
    let mut deeper = tiny_config(7);
    deeper.model.depth = 3;
    send(
        &worker,
        Command::Start {
            run_id: 1,
            config: tiny_config(5),
        },
    );
    send(
        &worker,
        Command::Start {
            run_id: 2,
            config: deeper,
        },
    );
    collect_until(&worker, |events| {
        [1, 2]
            .iter()
            .all(|&run| events.iter().any(|e| is_state(e, run, &RunState::Finished)))
    });

    let view = ViewState {
        selected_run: 1,
        compared_runs: Some(vec![0, 1]),
        comparing: true,
        ..ViewState::default()
    };
    // The order and the names are the UI's.
    send(
        &worker,
        Command::Save {
            path: path.clone(),
            runs: vec![
                RunToSave::Held {
                    run_id: 2,
                    name: "deeper".into(),
                },
                RunToSave::Held {
                    run_id: 1,
                    name: "shallow".into(),
                },
                RunToSave::NotStarted {
                    name: "planned".into(),
                    config: tiny_config(9),
                },
            ],
            view: view.clone(),
            sweep: None,
            recovery: false,
            fresh_name: false,
        },
    );
    let saved = collect_until(&worker, |events| {
        events
            .iter()
            .any(|e| matches!(e, WorkerEvent::Saved { .. }))
    });
    assert!(
        saved
            .iter()
            .any(|e| matches!(e, WorkerEvent::Saved { result: Ok(p), .. } if *p == path)),
        "{saved:?}"
    );

    send(
        &worker,
        Command::Open {
            first_run_id: 100,
            path: path.clone(),
        },
    );
    let opened = collect_until(&worker, |events| {
        events.iter().any(|e| is_state(e, 101, &RunState::Finished))
    });
    let Some(WorkerEvent::Opened {
        runs, view: read, ..
    }) = opened
        .iter()
        .find(|e| matches!(e, WorkerEvent::Opened { .. }))
    else {
        panic!("no Opened event: {opened:?}");
    };
    let summary: Vec<(u64, &str, usize, u64, bool)> = runs
        .iter()
        .map(|r| {
            (
                r.run_id,
                r.run.name.as_str(),
                r.run.config.model.depth,
                r.run.history.last_step(),
                r.continuable,
            )
        })
        .collect();
    // A run not started yet comes back with its settings and nothing recorded.
    assert_eq!(
        summary,
        [
            (100, "deeper", 3, 7, true),
            (101, "shallow", 2, 5, true),
            (102, "planned", 2, 0, false)
        ]
    );
    assert_eq!(runs[2].run.config.train.steps, 9);
    assert_eq!(*read, view);

    // The opened runs replaced the old ones: saving an old one is refused by name.
    send(
        &worker,
        Command::Save {
            path: dir.path().join("other.json"),
            runs: vec![RunToSave::Held {
                run_id: 1,
                name: "shallow".into(),
            }],
            view: ViewState::default(),
            sweep: None,
            recovery: false,
            fresh_name: false,
        },
    );
    let refused = collect_until(&worker, |events| {
        events
            .iter()
            .any(|e| matches!(e, WorkerEvent::Saved { .. }))
    });
    assert!(
        refused.iter().any(|e| matches!(
            e,
            WorkerEvent::Saved { result: Err(message), .. } if message.contains("\"shallow\"")
        )),
        "{refused:?}"
    );
    Ok(())
}

#[test]
fn a_run_saved_after_it_diverged_opens_diverged_not_paused()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("diverged.json");
    let worker = Worker::spawn(Box::new(|| {}))?;
    // The huge_init experiment's loss becomes NaN within a few steps.
    let preset = crate::presets::find("huge_init")?;
    let mut config = Box::new(preset.config()?);
    config.train.steps = 50;
    send(&worker, Command::Start { run_id: 1, config });
    let events = collect_until(&worker, |events| {
        events.iter().any(|e| {
            matches!(
                e,
                WorkerEvent::State {
                    run_id: 1,
                    state: RunState::Diverged { .. }
                }
            )
        })
    });
    let Some(diverged_at) = events.iter().find_map(|e| match e {
        WorkerEvent::State {
            state: RunState::Diverged { step, .. },
            ..
        } => Some(*step),
        _ => None,
    }) else {
        panic!("no divergence: {events:?}");
    };

    send(
        &worker,
        Command::Save {
            path: path.clone(),
            runs: vec![RunToSave::Held {
                run_id: 1,
                name: "too big".into(),
            }],
            view: ViewState::default(),
            sweep: None,
            recovery: false,
            fresh_name: false,
        },
    );
    collect_until(&worker, |events| {
        events
            .iter()
            .any(|e| matches!(e, WorkerEvent::Saved { result: Ok(_), .. }))
    });
    send(
        &worker,
        Command::Open {
            first_run_id: 10,
            path,
        },
    );
    let opened = collect_until(&worker, |events| {
        events
            .iter()
            .any(|e| matches!(e, WorkerEvent::State { run_id: 10, .. }))
    });
    let state = opened.iter().find_map(|e| match e {
        WorkerEvent::State { run_id: 10, state } => Some(state.clone()),
        _ => None,
    });
    assert!(
        matches!(state, Some(RunState::Diverged { step, .. }) if step == diverged_at),
        "{state:?}"
    );
    Ok(())
}
