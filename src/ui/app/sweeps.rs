//! Sweeps in the app: the queued runs that vary one setting of the selected run, each
//! started as an earlier one ends, and cancelling them. The queue lives here, in the
//! UI's state; the trainer thread only ever sees ordinary runs.

// TODO(#6): a saved session keeps the sweep's started runs but not its queue: the runs
// still waiting are lost when the app closes or another session opens.

use super::{GradLabApp, LiveRun, Notice, Phase};
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
        if self.sweep.is_some() {
            self.notice = Some(Notice::Error(
                "a sweep is queued already: cancel it or let it finish".into(),
            ));
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
