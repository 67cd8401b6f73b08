//! The trainer thread. Commands come down one bounded channel; events go up another.
//! The UI never blocks on it (it only `try_send`s and drains), and it never waits on
//! the UI: events that do not fit into a full channel wait in an outbox, in order, and
//! go up as soon as there is room, so no step is ever lost.
//!
//! The thread holds every run of the session, each with its own trainer, and trains
//! the running ones in turn, one step each (round robin): two running runs each go at
//! about half the speed of one. Commands name the run they are for.

#[cfg(test)]
mod tests;
mod trainer_loop;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::record::StepRecord;
use crate::config::Config;
use crate::history::RunHistory;
use crate::session::{SavedRun, SavedSweep, ViewState};
use trainer_loop::Loop;

const COMMAND_CAPACITY: usize = 64;
const EVENT_CAPACITY: usize = 256;
/// Steps are batched into one event at most this often, so that a fast run does not
/// wake the UI thousands of times a second.
const FLUSH_INTERVAL: Duration = Duration::from_millis(15);
/// How often a paused worker retries an outbox the UI has not had room for.
const RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// What the UI asks of the trainer. A command for a run the trainer does not hold
/// (one already forgotten) does nothing.
#[derive(Clone, Debug)]
pub enum Command {
    /// Build a new run from `config` and start training it, beside any others.
    Start {
        run_id: u64,
        config: Box<Config>,
    },
    Pause {
        run_id: u64,
    },
    Resume {
        run_id: u64,
    },
    /// Take exactly one step of a paused run.
    StepOnce {
        run_id: u64,
    },
    /// End the run; it stays held (so that it can be saved whole) but takes no more
    /// steps.
    Stop {
        run_id: u64,
    },
    /// Forget the run (reset or deleted in the UI); the others go on.
    Reset {
        run_id: u64,
    },
    /// Hold a run that has only its record, so that a save includes it: what the UI
    /// still shows after a trainer thread was replaced.
    Adopt {
        run_id: u64,
        run: Box<SavedRun>,
    },
    /// Read a session file and hold its runs in place of the current ones, as
    /// `first_run_id`, `first_run_id + 1`, …: paused and ready to continue where the
    /// file holds their training state. Nothing changes if the file cannot be read.
    Open {
        first_run_id: u64,
        path: PathBuf,
    },
    /// Write `runs` (in this order, under these names), each with its training state
    /// where it has one, as a session at `path`.
    Save {
        path: PathBuf,
        runs: Vec<RunToSave>,
        view: ViewState,
        /// The sweep queued in the app, if any, with its started runs as indices into
        /// `runs`.
        sweep: Option<SavedSweep>,
        recovery: bool,
        /// Pick `name-2.json`, `name-3.json`, … rather than replace an existing file.
        fresh_name: bool,
    },
}

/// One run of a session to write.
#[derive(Clone, Debug)]
pub enum RunToSave {
    /// A run the trainer holds: saved with its record and its training state.
    Held { run_id: u64, name: String },
    /// Settings not trained yet: saved with an empty record.
    NotStarted { name: String, config: Box<Config> },
}

/// The state of one of the worker's runs.
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
    /// A session was read: its runs, which replace the ones held before.
    Opened {
        runs: Vec<OpenedRun>,
        view: ViewState,
        /// The sweep that was queued when the session was saved.
        sweep: Option<SavedSweep>,
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

/// One run of a session that was read.
#[derive(Clone, Debug)]
pub struct OpenedRun {
    pub run_id: u64,
    pub run: SavedRun,
    /// True if the file held its training state, so that it can go on training.
    pub continuable: bool,
}

impl WorkerEvent {
    /// The run an event is about; `None` for the ones about the whole session.
    pub fn run_id(&self) -> Option<u64> {
        match self {
            Self::Started { run_id, .. }
            | Self::Steps { run_id, .. }
            | Self::State { run_id, .. }
            | Self::Failed { run_id, .. } => Some(*run_id),
            Self::Opened { .. } | Self::OpenFailed { .. } | Self::Saved { .. } => None,
        }
    }
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
