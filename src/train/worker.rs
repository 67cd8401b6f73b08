//! The trainer thread. Commands come down one bounded channel; events go up another.
//! The UI never blocks on it (it only `try_send`s and drains), and it never waits on
//! the UI: events that do not fit into a full channel wait in an outbox, in order, and
//! go up as soon as there is room, so no step is ever lost.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::path::PathBuf;

use super::record::StepRecord;
use super::trainer::{TrainError, Trainer};
use crate::config::Config;
use crate::history::RunHistory;
use crate::session::{SavedRun, Session, ViewState};

const COMMAND_CAPACITY: usize = 64;
const EVENT_CAPACITY: usize = 256;
/// Steps are batched into one event at most this often, so that a fast run does not
/// wake the UI thousands of times a second.
const FLUSH_INTERVAL: Duration = Duration::from_millis(15);
/// How often a paused worker retries an outbox the UI has not had room for.
const RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// What the UI asks of the trainer.
#[derive(Clone, Debug)]
pub enum Command {
    /// Build a new run from `config` and start training it.
    Start {
        run_id: u64,
        config: Box<Config>,
    },
    Pause,
    Resume,
    /// Take exactly one step of a paused run.
    StepOnce,
    /// End the run; its recorded history stays with the UI.
    Stop,
    /// Forget the run.
    Reset,
    /// Read a session file and make its last run the current one: paused and ready to
    /// continue if the file holds its training state. The current run is kept if the
    /// file cannot be read.
    Open {
        run_id: u64,
        path: PathBuf,
    },
    /// Write the current run, with its training state, as a session at `path`.
    Save {
        path: PathBuf,
        name: String,
        view: ViewState,
        recovery: bool,
        /// Pick `name-2.json`, `name-3.json`, … rather than replace an existing file.
        fresh_name: bool,
    },
}

/// The state of the worker's current run.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    Running,
    Paused,
    /// The configured number of steps was reached.
    Finished,
    /// A loss or gradient became NaN or infinite at `step`; the run stopped there.
    Diverged {
        step: u64,
        reason: String,
    },
    /// Stopped by the user.
    Stopped,
}

impl RunState {
    /// True while the run can still take steps.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }
}

/// What the trainer reports, tagged with the run it belongs to so that events of a
/// run the UI has already reset can be told apart.
#[derive(Clone, Debug)]
pub enum WorkerEvent {
    Started {
        run_id: u64,
        /// An empty history shaped for the run's records.
        history: RunHistory,
    },
    Steps {
        run_id: u64,
        records: Vec<StepRecord>,
    },
    State {
        run_id: u64,
        state: RunState,
    },
    Failed {
        run_id: u64,
        message: String,
    },
    /// A session was read: its run, and whether it can go on training.
    Opened {
        run_id: u64,
        run: Box<SavedRun>,
        view: ViewState,
        continuable: bool,
        path: PathBuf,
    },
    /// A session could not be read; nothing changed.
    OpenFailed {
        path: PathBuf,
        message: String,
    },
    /// The outcome of a save.
    Saved {
        result: Result<PathBuf, String>,
        recovery: bool,
    },
}

/// The UI's handle on the trainer thread; dropping it stops and joins the thread.
pub struct Worker {
    commands: Option<SyncSender<Command>>,
    events: Receiver<WorkerEvent>,
    thread: Option<JoinHandle<()>>,
}

/// The trainer thread has gone, or its command queue is full.
#[derive(Debug, thiserror::Error)]
#[error("the trainer is not accepting commands ({0})")]
pub struct WorkerUnavailable(&'static str);

impl Worker {
    /// Starts the named trainer thread. `wake` is called whenever events are waiting,
    /// so that an idle UI can repaint.
    pub fn spawn(wake: Box<dyn Fn() + Send>) -> std::io::Result<Self> {
        let (command_tx, command_rx) = mpsc::sync_channel(COMMAND_CAPACITY);
        let (event_tx, event_rx) = mpsc::sync_channel(EVENT_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("gradlab-trainer".into())
            .spawn(move || Loop::new(command_rx, event_tx, wake).run())?;
        Ok(Self {
            commands: Some(command_tx),
            events: event_rx,
            thread: Some(thread),
        })
    }

    /// Queues a command without waiting.
    pub fn send(&self, command: Command) -> Result<(), WorkerUnavailable> {
        let Some(commands) = &self.commands else {
            return Err(WorkerUnavailable("shut down"));
        };
        commands.try_send(command).map_err(|err| match err {
            TrySendError::Full(_) => WorkerUnavailable("too many commands queued"),
            TrySendError::Disconnected(_) => WorkerUnavailable("the trainer thread ended"),
        })
    }

    /// False once the trainer thread has ended (it only ends when the handle drops, so
    /// this means something went badly wrong).
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Every event that has arrived since the last call, oldest first.
    pub fn drain(&self) -> Vec<WorkerEvent> {
        self.events.try_iter().collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the command channel ends the loop after its current step.
        self.commands = None;
        // Keep draining so that a worker blocked on nothing but a full outbox can see
        // the closed channel.
        if let Some(thread) = self.thread.take() {
            while !thread.is_finished() {
                let _drained = self.events.recv_timeout(RETRY_INTERVAL);
            }
            if thread.join().is_err() {
                log::error!("the trainer thread panicked");
            }
        }
    }
}

// ---------------------------------------------------------------------------

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
fn free_session_path(path: &std::path::Path) -> PathBuf {
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

struct ActiveRun {
    run_id: u64,
    name: String,
    trainer: Trainer,
    /// The worker's own record of the run, so that a save pairs the history and the
    /// training state of the same step.
    history: RunHistory,
    state: RunState,
}

struct Loop {
    commands: Receiver<Command>,
    events: SyncSender<WorkerEvent>,
    wake: Box<dyn Fn() + Send>,
    run: Option<ActiveRun>,
    outbox: VecDeque<WorkerEvent>,
    last_flush: Instant,
}

impl Loop {
    fn new(
        commands: Receiver<Command>,
        events: SyncSender<WorkerEvent>,
        wake: Box<dyn Fn() + Send>,
    ) -> Self {
        Self {
            commands,
            events,
            wake,
            run: None,
            outbox: VecDeque::new(),
            last_flush: Instant::now(),
        }
    }

    fn run(mut self) {
        loop {
            let running = self
                .run
                .as_ref()
                .is_some_and(|r| r.state == RunState::Running);
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
                None => self.step(),
            }
            self.flush(false);
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Start { run_id, config } => match guarded(|| Trainer::new(&config)) {
                Ok(trainer) => {
                    log::info!("run {run_id} started: {}", config.summary());
                    self.push(WorkerEvent::Started {
                        run_id,
                        history: trainer.new_history(),
                    });
                    self.run = Some(ActiveRun {
                        run_id,
                        name: format!("run {run_id}"),
                        history: trainer.new_history(),
                        trainer,
                        state: RunState::Running,
                    });
                    self.push_state();
                }
                Err(message) => {
                    self.run = None;
                    self.push(WorkerEvent::Failed { run_id, message });
                }
            },
            Command::Pause => self.set_state_if_live(RunState::Paused),
            Command::Resume => self.set_state_if_live(RunState::Running),
            Command::StepOnce => {
                if self
                    .run
                    .as_ref()
                    .is_some_and(|r| r.state == RunState::Paused)
                {
                    self.step();
                }
            }
            // A stopped run keeps its trainer, so that it can still be saved whole.
            Command::Stop => self.set_state_if_live(RunState::Stopped),
            Command::Reset => self.run = None,
            Command::Open { run_id, path } => self.open(run_id, path),
            Command::Save {
                path,
                name,
                view,
                recovery,
                fresh_name,
            } => {
                let path = if fresh_name {
                    free_session_path(&path)
                } else {
                    path
                };
                let result = self.save(&path, name, view).map(|()| path);
                self.push(WorkerEvent::Saved { result, recovery });
            }
        }
    }

    fn open(&mut self, run_id: u64, path: PathBuf) {
        let loaded = Session::load_with_checkpoints(&path)
            .map_err(|e| e.to_string())
            .and_then(|(session, checkpoints)| {
                let view = session.view.clone();
                let (run, checkpoint) = session
                    .runs
                    .into_iter()
                    .zip(checkpoints)
                    .next_back()
                    .ok_or_else(|| format!("{} holds no runs", path.display()))?;
                let trainer = match checkpoint {
                    Some(checkpoint) => Some(guarded(|| {
                        Trainer::from_checkpoint(&run.config, checkpoint)
                    })?),
                    None => None,
                };
                Ok((run, view, trainer))
            });
        match loaded {
            Ok((run, view, trainer)) => {
                let continuable = trainer.is_some();
                self.run = trainer.map(|trainer| ActiveRun {
                    run_id,
                    name: run.name.clone(),
                    history: run.history.clone(),
                    state: if trainer.is_finished() {
                        RunState::Finished
                    } else {
                        RunState::Paused
                    },
                    trainer,
                });
                log::info!("opened session {}", path.display());
                self.push(WorkerEvent::Opened {
                    run_id,
                    run: Box::new(run),
                    view,
                    continuable,
                    path,
                });
                self.push_state();
            }
            Err(message) => self.push(WorkerEvent::OpenFailed { path, message }),
        }
    }

    fn save(
        &mut self,
        path: &std::path::Path,
        name: String,
        view: ViewState,
    ) -> Result<(), String> {
        let Some(run) = &mut self.run else {
            return Err("there is no run to save".into());
        };
        run.name = name;
        let checkpoint = run.trainer.checkpoint().map_err(|e| e.to_string())?;
        let mut session = Session::new(vec![SavedRun {
            name: run.name.clone(),
            config: run.trainer.config().clone(),
            history: run.history.clone(),
            checkpoint: None,
        }]);
        session.view = view;
        session
            .save_with_checkpoints(path, &[Some(&checkpoint)])
            .map_err(|e| e.to_string())?;
        log::info!("session saved to {}", path.display());
        Ok(())
    }

    fn set_state_if_live(&mut self, state: RunState) {
        if let Some(run) = &mut self.run
            && run.state.is_live()
            && run.state != state
        {
            run.state = state;
            self.push_state();
        }
    }

    fn step(&mut self) {
        let Some(run) = &mut self.run else {
            return;
        };
        let run_id = run.run_id;
        match guarded(|| run.trainer.step()) {
            Ok(record) => {
                run.history.push(&record);
                let divergence = record.divergence().map(|reason| (record.step, reason));
                let finished = run.trainer.is_finished();
                self.push_record(run_id, record);
                let next_state = match divergence {
                    Some((step, reason)) => Some(RunState::Diverged { step, reason }),
                    None if finished => Some(RunState::Finished),
                    None => None,
                };
                if let Some(state) = next_state
                    && let Some(run) = &mut self.run
                {
                    run.state = state;
                    self.push_state();
                }
            }
            Err(message) => {
                self.run = None;
                self.push(WorkerEvent::Failed { run_id, message });
            }
        }
    }

    fn push_state(&mut self) {
        if let Some(run) = &self.run {
            let event = WorkerEvent::State {
                run_id: run.run_id,
                state: run.state.clone(),
            };
            self.push(event);
        }
    }

    fn push_record(&mut self, run_id: u64, record: StepRecord) {
        if let Some(WorkerEvent::Steps {
            run_id: id,
            records,
        }) = self.outbox.back_mut()
            && *id == run_id
        {
            records.push(record);
            return;
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

#[cfg(test)]
mod tests {
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

    fn is_state(event: &WorkerEvent, wanted: &RunState) -> bool {
        matches!(event, WorkerEvent::State { state, .. } if state == wanted)
    }

    #[test]
    fn every_step_arrives_once_and_in_order_then_the_run_finishes() -> std::io::Result<()> {
        let worker = Worker::spawn(Box::new(|| {}))?;
        worker
            .send(Command::Start {
                run_id: 7,
                config: tiny_config(600),
            })
            .expect("queue has room");
        let events = collect_until(&worker, |events| {
            events.iter().any(|e| is_state(e, &RunState::Finished))
        });

        let steps: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                WorkerEvent::Steps { run_id: 7, records } => Some(records.iter().map(|r| r.step)),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(steps, (1..=600).collect::<Vec<_>>());
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
        worker.send(start).expect("queue has room");
        worker.send(Command::Pause).expect("queue has room");
        let events = collect_until(&worker, |events| {
            events.iter().any(|e| is_state(e, &RunState::Paused))
        });
        let last_step = |events: &[WorkerEvent]| {
            events.iter().rev().find_map(|e| match e {
                WorkerEvent::Steps { records, .. } => records.last().map(|r| r.step),
                _ => None,
            })
        };
        let paused_at = last_step(&events).unwrap_or(0);

        worker.send(Command::StepOnce).expect("queue has room");
        worker.send(Command::StepOnce).expect("queue has room");
        let more = collect_until(&worker, |events| last_step(events) == Some(paused_at + 2));
        assert_eq!(last_step(&more), Some(paused_at + 2));

        worker.send(Command::Reset).expect("queue has room");
        worker.send(Command::StepOnce).expect("queue has room");
        // After a reset there is no run: a step command does nothing, and a new run
        // starts from step 1.
        worker
            .send(Command::Start {
                run_id: 2,
                config: tiny_config(5),
            })
            .expect("queue has room");
        let after = collect_until(&worker, |events| {
            events.iter().any(|e| is_state(e, &RunState::Finished))
        });
        assert!(
            after
                .iter()
                .all(|e| !matches!(e, WorkerEvent::Steps { run_id: 1, .. }))
        );
        let first = after.iter().find_map(|e| match e {
            WorkerEvent::Steps { records, .. } => records.first().map(|r| r.step),
            _ => None,
        });
        assert_eq!(first, Some(1));
        Ok(())
    }

    #[test]
    fn an_invalid_config_is_reported_not_panicked() -> std::io::Result<()> {
        let worker = Worker::spawn(Box::new(|| {}))?;
        let mut config = tiny_config(5);
        config.model.depth = 0;
        worker
            .send(Command::Start { run_id: 3, config })
            .expect("queue has room");
        let events = collect_until(&worker, |events| !events.is_empty());
        match &events[0] {
            WorkerEvent::Failed { run_id: 3, message } => {
                assert!(message.contains("model.depth"), "{message}")
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        Ok(())
    }
}
