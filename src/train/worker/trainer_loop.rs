//! The trainer thread's loop: the runs it holds, the round robin that steps the running
//! ones, and the outbox that keeps their events in order.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::time::Instant;

use super::{Command, FLUSH_INTERVAL, OpenedRun, RETRY_INTERVAL, RunState, RunToSave, WorkerEvent};
use crate::config::Config;
use crate::history::RunHistory;
use crate::session::{SavedRun, SavedSweep, Session, ViewState};
use crate::train::record::StepRecord;
use crate::train::rows::row_counts;
use crate::train::trainer::{TrainError, Trainer};

/// Runs `f`, turning a panic inside it (a bug, or a library's assertion on numbers no
/// check foresaw) into an error, so that one bad run never takes the trainer down.
fn guarded<T>(f: impl FnOnce() -> Result<T, TrainError>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|err| err.to_string()),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".to_owned());
            log::error!("the trainer failed: {what}");
            Err(format!("the trainer failed unexpectedly: {what}"))
        }
    }
}

/// `path`, or the first of `stem-2.json`, `stem-3.json`, … beside it not yet taken.
fn free_session_path(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_owned();
    }
    let stem = path
        .file_stem()
        .map_or_else(|| "session".into(), |s| s.to_string_lossy().into_owned());
    (2u32..)
        .map(|n| path.with_file_name(format!("{stem}-{n}.json")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.to_owned())
}

/// One run the thread holds.
struct HeldRun {
    run_id: u64,
    config: Config,
    /// `None` for a run read without its training state: kept so that a save includes
    /// it, never trained.
    trainer: Option<Trainer>,
    /// The thread's own record of the run, so that a save pairs the history and the
    /// training state of the same step.
    history: RunHistory,
    state: RunState,
}

pub(super) struct Loop {
    commands: Receiver<Command>,
    events: SyncSender<WorkerEvent>,
    wake: Box<dyn Fn() + Send>,
    runs: Vec<HeldRun>,
    /// Where the round robin looks first for the next run to step.
    turn: usize,
    outbox: VecDeque<WorkerEvent>,
    last_flush: Instant,
}

impl Loop {
    pub(super) fn new(
        commands: Receiver<Command>,
        events: SyncSender<WorkerEvent>,
        wake: Box<dyn Fn() + Send>,
    ) -> Self {
        Self {
            commands,
            events,
            wake,
            runs: Vec::new(),
            turn: 0,
            outbox: VecDeque::new(),
            last_flush: Instant::now(),
        }
    }

    pub(super) fn run(mut self) {
        loop {
            let running = self.runs.iter().any(|r| r.state == RunState::Running);
            let next = if running {
                match self.commands.try_recv() {
                    Ok(command) => Some(command),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                self.flush(true);
                let waited = if self.outbox.is_empty() {
                    self.commands
                        .recv()
                        .map_err(|_| RecvTimeoutError::Disconnected)
                } else {
                    self.commands.recv_timeout(RETRY_INTERVAL)
                };
                match waited {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };

            match next {
                Some(command) => self.handle(command),
                None => self.step_next(),
            }
            self.flush(false);
        }
    }

    fn index_of(&self, run_id: u64) -> Option<usize> {
        self.runs.iter().position(|r| r.run_id == run_id)
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Start { run_id, config } => self.start(run_id, *config),
            Command::Pause { run_id } => self.set_state_if_live(run_id, RunState::Paused),
            Command::Resume { run_id } => self.set_state_if_live(run_id, RunState::Running),
            Command::StepOnce { run_id } => {
                if let Some(index) = self.index_of(run_id)
                    && self.runs[index].state == RunState::Paused
                {
                    self.step(index);
                }
            }
            // A stopped run keeps its trainer, so that it can still be saved whole.
            Command::Stop { run_id } => self.set_state_if_live(run_id, RunState::Stopped),
            Command::Reset { run_id } => self.runs.retain(|r| r.run_id != run_id),
            Command::Adopt { run_id, run } => {
                self.runs.retain(|r| r.run_id != run_id);
                self.runs.push(HeldRun {
                    run_id,
                    config: run.config,
                    trainer: None,
                    history: run.history,
                    state: RunState::Stopped,
                });
            }
            Command::Open { first_run_id, path } => self.open(first_run_id, path),
            Command::Save {
                path,
                runs,
                view,
                sweep,
                recovery,
                fresh_name,
            } => {
                let path = if fresh_name {
                    free_session_path(&path)
                } else {
                    path
                };
                let result = self.save(&path, &runs, view, sweep).map(|()| path);
                self.push(WorkerEvent::Saved { result, recovery });
            }
        }
    }

    fn start(&mut self, run_id: u64, config: Config) {
        self.runs.retain(|r| r.run_id != run_id);
        match guarded(|| Trainer::new(&config)) {
            Ok(trainer) => {
                log::info!("training started (run id {run_id}): {}", config.summary());
                self.push(WorkerEvent::Started {
                    run_id,
                    history: trainer.new_history(),
                });
                self.runs.push(HeldRun {
                    run_id,
                    history: trainer.new_history(),
                    config,
                    trainer: Some(trainer),
                    state: RunState::Running,
                });
                self.push_state(self.runs.len() - 1);
            }
            Err(message) => self.push(WorkerEvent::Failed { run_id, message }),
        }
    }

    fn open(&mut self, first_run_id: u64, path: PathBuf) {
        let loaded = Session::load_with_checkpoints(&path)
            .map_err(|e| e.to_string())
            .and_then(|(session, checkpoints)| {
                if session.runs.is_empty() {
                    return Err(format!("{} holds no runs", path.display()));
                }
                let mut held = Vec::with_capacity(session.runs.len());
                for ((run, checkpoint), run_id) in session
                    .runs
                    .into_iter()
                    .zip(checkpoints)
                    .zip(first_run_id..)
                {
                    let trainer = match checkpoint {
                        Some(checkpoint) => Some(guarded(|| {
                            Trainer::from_checkpoint(&run.config, checkpoint)
                        })?),
                        None => None,
                    };
                    held.push((run_id, run, trainer));
                }
                Ok((held, session.view, session.sweep))
            });
        let (held, view, sweep) = match loaded {
            Ok(loaded) => loaded,
            Err(message) => {
                self.push(WorkerEvent::OpenFailed { path, message });
                return;
            }
        };

        self.runs.clear();
        self.turn = 0;
        let mut opened = Vec::with_capacity(held.len());
        for (run_id, run, trainer) in held {
            let state = match (&trainer, divergence(&run.history)) {
                (Some(_), Some((step, reason))) => RunState::Diverged { step, reason },
                (Some(t), None) if t.is_finished() => RunState::Finished,
                (Some(_), None) => RunState::Paused,
                (None, _) => RunState::Stopped,
            };
            opened.push(OpenedRun {
                run_id,
                continuable: trainer.is_some(),
                run: run.clone(),
            });
            self.runs.push(HeldRun {
                run_id,
                config: run.config,
                trainer,
                history: run.history,
                state,
            });
        }
        log::info!("opened session {} ({} runs)", path.display(), opened.len());
        self.push(WorkerEvent::Opened {
            runs: opened,
            view,
            sweep,
            path,
        });
        for index in 0..self.runs.len() {
            if self.runs[index].trainer.is_some() {
                self.push_state(index);
            }
        }
    }

    fn save(
        &self,
        path: &Path,
        runs: &[RunToSave],
        view: ViewState,
        sweep: Option<SavedSweep>,
    ) -> Result<(), String> {
        if runs.is_empty() {
            return Err("there is no run to save".into());
        }
        let mut saved = Vec::with_capacity(runs.len());
        let mut checkpoints = Vec::with_capacity(runs.len());
        for run in runs {
            let (run_id, name) = match run {
                RunToSave::Held { run_id, name } => (*run_id, name),
                RunToSave::NotStarted { name, config } => {
                    let num_layers = config.model.depth + 1;
                    saved.push(SavedRun {
                        name: name.clone(),
                        config: (**config).clone(),
                        history: RunHistory::with_rows(num_layers, &row_counts(config)),
                        checkpoint: None,
                    });
                    checkpoints.push(None);
                    continue;
                }
            };
            let Some(held) = self.index_of(run_id).map(|i| &self.runs[i]) else {
                return Err(format!(
                    "the trainer does not hold the run \"{name}\"; delete it and save again"
                ));
            };
            let checkpoint = match &held.trainer {
                Some(trainer) => Some(trainer.checkpoint().map_err(|e| e.to_string())?),
                None => None,
            };
            checkpoints.push(checkpoint);
            saved.push(SavedRun {
                name: name.clone(),
                config: held.config.clone(),
                history: held.history.clone(),
                checkpoint: None,
            });
        }
        let mut session = Session::new(saved);
        session.view = view;
        session.sweep = sweep;
        let checkpoints: Vec<_> = checkpoints.iter().map(Option::as_ref).collect();
        session
            .save_with_checkpoints(path, &checkpoints)
            .map_err(|e| e.to_string())?;
        log::info!(
            "session saved to {} ({} runs)",
            path.display(),
            session.runs.len()
        );
        Ok(())
    }

    fn set_state_if_live(&mut self, run_id: u64, state: RunState) {
        if let Some(index) = self.index_of(run_id) {
            let run = &mut self.runs[index];
            if run.state.is_live() && run.state != state {
                run.state = state;
                self.push_state(index);
            }
        }
    }

    /// Steps the next running run after the one stepped last.
    fn step_next(&mut self) {
        let count = self.runs.len();
        let next = (0..count)
            .map(|k| (self.turn + k) % count)
            .find(|&i| self.runs[i].state == RunState::Running);
        if let Some(index) = next {
            self.turn = index + 1;
            self.step(index);
        }
    }

    fn step(&mut self, index: usize) {
        let run = &mut self.runs[index];
        let run_id = run.run_id;
        let Some(trainer) = &mut run.trainer else {
            return;
        };
        match guarded(|| trainer.step()) {
            Ok(record) => {
                run.history.push(&record);
                let divergence = record.divergence().map(|reason| (record.step, reason));
                let next_state = match divergence {
                    Some((step, reason)) => Some(RunState::Diverged { step, reason }),
                    None if trainer.is_finished() => Some(RunState::Finished),
                    None => None,
                };
                self.push_record(run_id, record);
                if let Some(state) = next_state {
                    self.runs[index].state = state;
                    self.push_state(index);
                }
            }
            Err(message) => {
                self.runs.remove(index);
                self.push(WorkerEvent::Failed { run_id, message });
            }
        }
    }

    fn push_state(&mut self, index: usize) {
        let run = &self.runs[index];
        let event = WorkerEvent::State {
            run_id: run.run_id,
            state: run.state.clone(),
        };
        self.push(event);
    }

    /// Adds a step to the waiting batch of its run's steps. Only batches of other runs'
    /// steps may lie between that batch and the end of the outbox: any other event
    /// starts a new batch, so that nothing is reordered around a change of state or a
    /// save.
    fn push_record(&mut self, run_id: u64, record: StepRecord) {
        for event in self.outbox.iter_mut().rev() {
            match event {
                WorkerEvent::Steps {
                    run_id: id,
                    records,
                } if *id == run_id => {
                    records.push(record);
                    return;
                }
                WorkerEvent::Steps { .. } => {}
                _ => break,
            }
        }
        self.push(WorkerEvent::Steps {
            run_id,
            records: vec![record],
        });
    }

    fn push(&mut self, event: WorkerEvent) {
        self.outbox.push_back(event);
    }

    /// Sends what fits into the event channel. Unless `now`, steps are held back until
    /// `FLUSH_INTERVAL` has passed since the last flush.
    fn flush(&mut self, now: bool) {
        if self.outbox.is_empty() || (!now && self.last_flush.elapsed() < FLUSH_INTERVAL) {
            return;
        }
        let mut sent = false;
        while let Some(event) = self.outbox.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => sent = true,
                Err(TrySendError::Full(event)) => {
                    self.outbox.push_front(event);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.outbox.clear();
                    break;
                }
            }
        }
        if sent {
            self.last_flush = Instant::now();
            (self.wake)();
        }
    }
}

/// Where a saved run had diverged: a run saved after its loss or gradient became NaN or
/// infinite comes back diverged, as it was, rather than paused.
fn divergence(history: &RunHistory) -> Option<(u64, String)> {
    let step = history.last_step();
    if let Some(loss) = history.loss().last().filter(|l| !l.is_finite()) {
        return Some((step, format!("loss became {loss}")));
    }
    history
        .grad_norm_total()
        .last()
        .filter(|n| !n.is_finite())
        .map(|norm| (step, format!("the gradient's norm became {norm}")))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::config::apply_override;

    fn tiny_config(depth: usize) -> Box<Config> {
        let mut config = Config::default();
        for assignment in ["model.width=8", "task.kind=xor", "train.steps=1000"] {
            config = apply_override(&config, assignment).expect("valid override");
        }
        config.model.depth = depth;
        Box::new(config)
    }

    /// A loop driven by hand, without its thread: every step is taken on request.
    fn idle_loop() -> Loop {
        let (_commands, command_rx) = mpsc::sync_channel(1);
        let (event_tx, _events) = mpsc::sync_channel(1);
        Loop::new(command_rx, event_tx, Box::new(|| {}))
    }

    /// (run, step) of every step waiting in the outbox, in order.
    fn queued_steps(worker: &Loop) -> Vec<(u64, u64)> {
        worker
            .outbox
            .iter()
            .filter_map(|e| match e {
                WorkerEvent::Steps { run_id, records } => Some(
                    records
                        .iter()
                        .map(|r| (*run_id, r.step))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn running_runs_take_one_step_each_in_turn_and_paused_ones_wait() {
        let mut worker = idle_loop();
        worker.handle(Command::Start {
            run_id: 1,
            config: tiny_config(2),
        });
        worker.handle(Command::Start {
            run_id: 2,
            config: tiny_config(3),
        });
        for _ in 0..6 {
            worker.step_next();
        }
        let steps = queued_steps(&worker);
        let of =
            |run: u64| -> Vec<u64> { steps.iter().filter(|s| s.0 == run).map(|s| s.1).collect() };
        assert_eq!(of(1), [1, 2, 3]);
        assert_eq!(of(2), [1, 2, 3]);

        worker.handle(Command::Pause { run_id: 1 });
        worker.outbox.clear();
        for _ in 0..4 {
            worker.step_next();
        }
        assert_eq!(queued_steps(&worker), [(2, 4), (2, 5), (2, 6), (2, 7)]);

        // A step of the paused run on request; then both in turn again.
        worker.handle(Command::StepOnce { run_id: 1 });
        worker.handle(Command::Resume { run_id: 1 });
        worker.outbox.clear();
        for _ in 0..4 {
            worker.step_next();
        }
        let mut steps = queued_steps(&worker);
        steps.sort_unstable();
        assert_eq!(steps, [(1, 5), (1, 6), (2, 8), (2, 9)]);
    }

    #[test]
    fn steps_of_one_run_are_batched_around_the_other_runs_but_never_across_a_state_change() {
        let mut worker = idle_loop();
        worker.handle(Command::Start {
            run_id: 1,
            config: tiny_config(2),
        });
        worker.handle(Command::Start {
            run_id: 2,
            config: tiny_config(2),
        });
        worker.outbox.clear();
        for _ in 0..4 {
            worker.step_next();
        }
        // Two batches, one a run, although their steps alternated.
        assert_eq!(worker.outbox.len(), 2);

        worker.handle(Command::Stop { run_id: 2 });
        worker.step_next();
        let kinds: Vec<String> = worker
            .outbox
            .iter()
            .map(|e| match e {
                WorkerEvent::Steps { run_id, records } => {
                    format!("steps {run_id} ×{}", records.len())
                }
                WorkerEvent::State { run_id, state } => format!("state {run_id} {state:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["steps 1 ×2", "steps 2 ×2", "state 2 Stopped", "steps 1 ×1"]
        );
    }

    #[test]
    fn reset_forgets_one_run_and_leaves_the_others() {
        let mut worker = idle_loop();
        for run_id in [1, 2, 3] {
            worker.handle(Command::Start {
                run_id,
                config: tiny_config(2),
            });
        }
        worker.handle(Command::Reset { run_id: 2 });
        worker.handle(Command::Stop { run_id: 3 });
        worker.outbox.clear();
        for _ in 0..3 {
            worker.step_next();
        }
        assert_eq!(queued_steps(&worker), [(1, 1), (1, 2), (1, 3)]);
        let held: Vec<(u64, RunState)> = worker
            .runs
            .iter()
            .map(|r| (r.run_id, r.state.clone()))
            .collect();
        assert_eq!(held, [(1, RunState::Running), (3, RunState::Stopped)]);
    }
}
