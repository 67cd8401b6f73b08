//! Sweeps in the app: the queued runs that vary one setting of the selected run, each
//! started as an earlier one ends, and cancelling them. The queue lives here, in the
//! UI's state, and goes into the session file when it is saved; the trainer thread only
//! ever sees ordinary runs.

use super::{GradLabApp, LiveRun, Notice, Phase};
use crate::session::SavedSweep;
use crate::sweep_queue::SweepQueue;
use crate::train::{Command, RunState};

impl GradLabApp {
    /// The sweep waiting or training, if any.
    pub fn sweep(&self) -> Option<&SweepQueue> {
        self.sweep.as_ref()
    }

    /// Starts `queue`, a checked sweep of the selected run's settings. The comparison
    /// is to be of the sweep: the other runs are unticked and each of its runs is
    /// ticked as it ends. A selected run not started yet held only the settings the
    /// sweep starts from and makes way for it.
    pub fn queue_sweep(&mut self, queue: SweepQueue) {
        if let Some(sweep) = &self.sweep {
            let what = if sweep.is_waiting() {
                "a sweep from the session waits already: continue or cancel it"
            } else {
                "a sweep is queued already: cancel it or let it finish"
            };
            self.notice = Some(Notice::Error(what.into()));
            return;
        }
        let unstarted_base = self.run().filter(|r| !r.is_started()).map(|r| r.run_id);
        // The comparison at the end is the sweep's; the other runs are unticked (and
        // the notice says so), so that a tick brings any of them back into it.
        let unticked = self
            .runs
            .iter()
            .filter(|r| r.compared && r.is_started())
            .count();
        for run in &mut self.runs {
            run.compared = false;
        }
        let key = queue.key().to_owned();
        let count = queue.pending().count();
        log::info!(
            "sweep of {key} queued: {count} runs, {} at a time",
            queue.at_once()
        );
        self.sweep = Some(queue);
        self.advance_sweep();
        if let Some(base) = unstarted_base
            && self.runs.len() > 1
        {
            self.runs.retain(|r| r.run_id != base);
        }
        let others = match unticked {
            0 => String::new(),
            1 => "; the run ticked before is unticked (tick it to compare it too)".to_owned(),
            n => format!("; the {n} runs ticked before are unticked (tick any to compare it too)"),
        };
        self.notice = Some(Notice::Info(format!(
            "sweep of {key} queued: {count} runs, each added to the list when it starts{others}"
        )));
    }

    fn is_live_run(&self, run_id: u64) -> bool {
        self.runs.iter().any(|r| r.run_id == run_id && r.is_live())
    }

    /// Starts the sweep's runs whose turn has come; once all have ended, shows them
    /// side by side. Called every frame, after the trainer's news is in.
    pub(super) fn advance_sweep(&mut self) {
        let Some(mut sweep) = self.sweep.take() else {
            return;
        };
        if sweep.is_waiting() {
            self.sweep = Some(sweep);
            return;
        }
        // The sweep's newest run is shown while the user watches the sweep.
        let mut follow = sweep.started().is_empty() || sweep.owns(self.selected);
        for queued in sweep.due(|id| self.is_live_run(id)) {
            let run_id = self.take_run_id();
            self.send(Command::Start {
                run_id,
                config: Box::new(queued.config.clone()),
            });
            let mut run = LiveRun::not_started(run_id, queued.name, queued.config.clone());
            run.mark_starting(run_id, queued.config);
            run.compared = false;
            run.from_sweep = true;
            run.color = self.free_color();
            self.runs.push(run);
            sweep.mark_started(run_id);
            if std::mem::take(&mut follow) {
                self.select(run_id);
            }
        }
        if !sweep.is_done(|id| self.is_live_run(id)) {
            self.sweep = Some(sweep);
            return;
        }
        let ended = self
            .runs
            .iter()
            .filter(|r| sweep.owns(r.run_id) && r.compared)
            .count();
        if ended > 0 {
            // The whole of every run: a zoom left from an earlier comparison could show
            // steps the sweep's runs never reached.
            self.comparing = true;
            self.compare.follow_newest();
        }
        self.notice = Some(Notice::Info(format!(
            "sweep of {} done: {ended} runs in the comparison",
            sweep.key()
        )));
    }

    /// The sweep as the session file keeps it: its started runs as places in the run
    /// list, which is the order the runs are saved in.
    pub(super) fn saved_sweep(&self) -> Option<SavedSweep> {
        self.sweep.as_ref().map(|sweep| {
            SavedSweep::from_queue(sweep, |run_id| {
                self.runs.iter().position(|r| r.run_id == run_id)
            })
        })
    }

    /// Goes on with a sweep read from a session: its runs that were training when it
    /// was saved resume from their training state, as Resume would resume them, and the
    /// runs still waiting start as their turn comes, as in a sweep queued here.
    pub fn continue_sweep(&mut self) {
        let Some(sweep) = self.sweep.as_mut().filter(|s| s.is_waiting()) else {
            return;
        };
        sweep.continue_runs();
        let key = sweep.key().to_owned();
        let waiting = sweep.pending().count();
        let interrupted: Vec<(u64, String)> = self
            .runs
            .iter()
            .filter(|r| {
                r.phase == Phase::Trainer(RunState::Paused)
                    && self.sweep.as_ref().is_some_and(|s| s.owns(r.run_id))
            })
            .map(|r| (r.run_id, r.name.clone()))
            .collect();
        for (run_id, _) in &interrupted {
            self.send(Command::Resume { run_id: *run_id });
        }
        log::info!(
            "sweep of {key} continued: {} runs resumed, {waiting} waiting",
            interrupted.len()
        );
        let mut message = format!("sweep of {key} continued: {waiting} runs to start");
        if !interrupted.is_empty() {
            let names: Vec<&str> = interrupted.iter().map(|(_, name)| name.as_str()).collect();
            message.push_str(&format!("; resumed {}", names.join(", ")));
        }
        self.notice = Some(Notice::Info(message));
        self.advance_sweep();
    }

    /// Drops the sweep's queued runs and pauses the ones training; they keep their
    /// steps, and Resume continues one.
    pub fn cancel_sweep(&mut self) {
        let Some(mut sweep) = self.sweep.take() else {
            return;
        };
        let dropped = sweep.cancel();
        let training: Vec<(u64, String)> = self
            .runs
            .iter()
            .filter(|r| {
                sweep.owns(r.run_id)
                    && matches!(r.phase, Phase::Starting | Phase::Trainer(RunState::Running))
            })
            .map(|r| (r.run_id, r.name.clone()))
            .collect();
        for (run_id, _) in &training {
            self.send(Command::Pause { run_id: *run_id });
        }
        log::info!(
            "sweep of {} cancelled: {} queued runs dropped, {} paused",
            sweep.key(),
            dropped.len(),
            training.len()
        );
        let mut message = format!("sweep of {} cancelled", sweep.key());
        if !dropped.is_empty() {
            let names: Vec<&str> = dropped.iter().map(|r| r.name.as_str()).collect();
            message.push_str(&format!("; not started: {}", names.join(", ")));
        }
        if !training.is_empty() {
            let names: Vec<&str> = training.iter().map(|(_, name)| name.as_str()).collect();
            message.push_str(&format!(
                "; paused with their steps: {} (Resume continues)",
                names.join(", ")
            ));
        }
        self.notice = Some(Notice::Info(message));
    }
}
