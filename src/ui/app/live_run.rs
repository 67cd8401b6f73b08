//! One run of the session as the UI holds it: its name, settings, record and state.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::history::RunHistory;
use crate::theory::InitTheory;
use crate::train::RunState;
use crate::ui::profile::run_theory;

/// Where a run is in its life, as the UI knows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Settings only: Start trains them.
    NotStarted,
    /// Sent to the trainer, not yet confirmed.
    Starting,
    /// As last reported by the trainer.
    Trainer(RunState),
    /// Read from a session file; shown, not continued.
    Loaded,
}

impl Phase {
    /// The state in a word or two, for the status line and the run list.
    pub fn label(&self) -> String {
        match self {
            Self::NotStarted => "not started".into(),
            Self::Starting => "starting".into(),
            Self::Loaded => "loaded from file".into(),
            Self::Trainer(state) => match state {
                RunState::Running => "running".into(),
                RunState::Paused => "paused".into(),
                RunState::Finished => "finished".into(),
                RunState::Diverged { step, .. } => format!("diverged at step {step}"),
                RunState::Stopped => "stopped".into(),
            },
        }
    }
}

/// A run of the session: its settings, what it recorded and where it is.
pub struct LiveRun {
    pub run_id: u64,
    /// Shown in the run list and the legends, and kept in the session file.
    pub name: String,
    pub config: Config,
    pub history: RunHistory,
    pub phase: Phase,
    /// Shown in the comparison view.
    pub compared: bool,
    /// Its colour in the run list, the comparison and the legends (an index into the
    /// palette), kept while the run lives so that deleting another never recolours it.
    pub color: usize,
    /// Started by a sweep: its settings differ from the loaded experiment on purpose.
    pub(super) from_sweep: bool,
    /// The last step written to or read from a session file.
    pub(super) saved_step: u64,
    pub(super) rate: StepRate,
    /// The theory's profile at initialisation, computed once when the run is shown.
    pub theory: Option<InitTheory>,
}

impl LiveRun {
    /// A run that has only its settings yet.
    pub fn not_started(run_id: u64, name: String, config: Config) -> Self {
        Self {
            run_id,
            name,
            config,
            history: RunHistory::default(),
            phase: Phase::NotStarted,
            compared: true,
            color: 0,
            from_sweep: false,
            saved_step: 0,
            rate: StepRate::default(),
            // Computed when the run starts: its settings may change until then.
            theory: None,
        }
    }

    /// A run shown from its recorded history alone, as one read from a file.
    pub fn from_history(run_id: u64, config: Config, history: RunHistory) -> Self {
        Self {
            run_id,
            name: format!("run {run_id}"),
            theory: run_theory(&config),
            config,
            saved_step: history.last_step(),
            history,
            phase: Phase::Loaded,
            compared: true,
            color: 0,
            from_sweep: false,
            rate: StepRate::default(),
        }
    }

    /// Makes this the run just sent to the trainer as `run_id` with `config`: an empty
    /// record, the theory of its settings, waiting for the trainer's word.
    pub(super) fn mark_starting(&mut self, run_id: u64, config: Config) {
        self.run_id = run_id;
        self.theory = run_theory(&config);
        self.config = config;
        self.history = RunHistory::new(0);
        self.phase = Phase::Starting;
    }

    pub fn is_live(&self) -> bool {
        match &self.phase {
            Phase::Starting => true,
            Phase::Trainer(state) => state.is_live(),
            Phase::NotStarted | Phase::Loaded => false,
        }
    }

    /// True once the run has been sent to the trainer or read from a file.
    pub fn is_started(&self) -> bool {
        self.phase != Phase::NotStarted
    }

    /// True if the run took steps that no session file holds yet.
    pub fn has_unsaved_training(&self) -> bool {
        self.history.last_step() > self.saved_step
    }

    pub fn steps_per_sec(&self) -> Option<f64> {
        self.rate.per_sec()
    }
}

/// Steps per second over the last couple of seconds.
#[derive(Default)]
pub(super) struct StepRate {
    samples: VecDeque<(Instant, u64)>,
}

impl StepRate {
    const WINDOW: Duration = Duration::from_secs(2);

    pub(super) fn add(&mut self, at: Instant, step: u64) {
        self.samples.push_back((at, step));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| at.duration_since(*t) > Self::WINDOW)
        {
            self.samples.pop_front();
        }
    }

    fn per_sec(&self) -> Option<f64> {
        let (t0, s0) = self.samples.front()?;
        let (t1, s1) = self.samples.back()?;
        let secs = t1.duration_since(*t0).as_secs_f64();
        (secs > 0.2).then(|| (s1 - s0) as f64 / secs)
    }
}
