//! The session's runs: selecting, starting, duplicating, resetting and deleting them,
//! and what the trainer reports about each.

use std::time::Instant;

use super::{GradLabApp, LiveRun, Notice, Phase, spawn_worker};
use crate::session::SavedRun;
use crate::train::{Command, RunState, Worker, WorkerEvent};
use crate::ui::compare::ComparedRun;
use crate::ui::run_controls::RunAction;
use crate::ui::theme;

/// The run deleted last, kept so that Undo can bring it back whole.
pub(super) struct DeletedRun {
    run: LiveRun,
    /// Where it stood in the list.
    index: usize,
    /// It was training when deleted (the trainer paused it) and goes on when it comes
    /// back.
    was_running: bool,
    /// The run added because the list became empty, if it did.
    placeholder: Option<u64>,
}

impl GradLabApp {
    /// The selected run: the one shown alone and driven by the run controls.
    pub fn run(&self) -> Option<&LiveRun> {
        self.runs.iter().find(|r| r.run_id == self.selected)
    }

    pub(super) fn selected_index(&self) -> Option<usize> {
        self.runs.iter().position(|r| r.run_id == self.selected)
    }

    fn run_mut(&mut self) -> Option<&mut LiveRun> {
        let selected = self.selected;
        self.runs.iter_mut().find(|r| r.run_id == selected)
    }

    /// The ticked runs that have something to show, with their colours.
    pub(super) fn compared_runs(runs: &[LiveRun]) -> Vec<ComparedRun<'_>> {
        let reference = runs.first().map(|r| &r.config);
        runs.iter()
            .enumerate()
            .filter(|(_, r)| r.compared && r.is_started())
            .map(|(index, run)| ComparedRun {
                run_id: run.run_id,
                name: &run.name,
                config: &run.config,
                history: &run.history,
                color: theme::run_color(run.color),
                differences: match reference {
                    Some(first) if index > 0 => {
                        let found = crate::config::differences(first, &run.config);
                        if found.is_empty() {
                            "same settings as the first run".to_owned()
                        } else {
                            found
                                .iter()
                                .map(crate::config::Difference::short)
                                .collect::<Vec<_>>()
                                .join(" · ")
                        }
                    }
                    _ => "first run".to_owned(),
                },
            })
            .collect()
    }

    /// Shows `run_id` alone and puts its settings in the panels.
    pub fn select(&mut self, run_id: u64) {
        if run_id == self.selected {
            return;
        }
        let Some(run) = self.runs.iter().find(|r| r.run_id == run_id) else {
            return;
        };
        self.selected = run_id;
        self.draft = run.config.clone();
        self.heatmap.clear();
        self.time_heatmap.clear();
        self.heatmap.show_steps(None);
        self.time_heatmap.show_steps(None);
    }

    /// Adds `run` at the end of the list and selects it.
    pub fn add_run(&mut self, run: LiveRun) {
        self.next_run_id = self.next_run_id.max(run.run_id + 1);
        let run_id = run.run_id;
        let mut run = run;
        run.color = self.free_color();
        self.runs.push(run);
        self.select(run_id);
    }

    /// The palette colour fewest runs have (the first of those), for a new run.
    pub(super) fn free_color(&self) -> usize {
        (0..theme::RUN_COLOR_COUNT)
            .min_by_key(|&color| self.runs.iter().filter(|r| r.color == color).count())
            .unwrap_or(0)
    }

    /// "run N" for the first N from the list's length up that no run is called yet.
    fn unused_name(&self) -> String {
        (self.runs.len() + 1..)
            .map(|n| format!("run {n}"))
            .find(|name| self.runs.iter().all(|r| &r.name != name))
            .unwrap_or_else(|| "new run".to_owned())
    }

    /// A new run, not started, with the settings in the panels: change one, then Start.
    pub fn duplicate(&mut self) {
        let run_id = self.take_run_id();
        // The panels may hold an experiment or edits the selected run does not have.
        let source = match self.run() {
            Some(run) if run.config == self.draft => format!("the settings of {}", run.name),
            _ => "the settings on the left".to_owned(),
        };
        let run = LiveRun::not_started(run_id, self.unused_name(), self.draft.clone());
        self.notice = Some(Notice::Info(format!(
            "{} has {source}: change one on the left, then press Start",
            run.name
        )));
        self.add_run(run);
    }

    /// Removes a run from the session; the others go on. Undo brings it back whole
    /// until the next run is deleted: meanwhile the trainer keeps it, paused. The list
    /// is never empty: deleting the last run leaves a new one with its settings.
    pub fn delete_run(&mut self, run_id: u64) {
        let Some(index) = self.runs.iter().position(|r| r.run_id == run_id) else {
            return;
        };
        // Only the last deleted run can come back.
        self.forget_deleted();
        let run = self.runs.remove(index);
        let was_running = matches!(
            run.phase,
            Phase::Starting | Phase::Trainer(RunState::Running)
        );
        if was_running {
            self.send(Command::Pause { run_id });
        }
        self.compare.forget(run_id);
        let placeholder = self.runs.is_empty().then(|| {
            let fresh = self.take_run_id();
            self.runs.push(LiveRun::not_started(
                fresh,
                "run 1".into(),
                run.config.clone(),
            ));
            fresh
        });
        if self.selected == run_id {
            let next = self.runs[index.min(self.runs.len() - 1)].run_id;
            self.select(next);
        }
        if !self.runs.iter().any(LiveRun::is_started) {
            self.comparing = false;
        }
        self.notice = Some(Notice::Info(format!(
            "deleted {}: Undo in the run list brings it back",
            run.name
        )));
        self.deleted = Some(DeletedRun {
            run,
            index,
            was_running,
            placeholder,
        });
    }

    /// Puts the run deleted last back where it was, with its record and its training
    /// state; one that was training goes on.
    pub fn undo_delete(&mut self) {
        let Some(DeletedRun {
            run,
            index,
            was_running,
            placeholder,
        }) = self.deleted.take()
        else {
            return;
        };
        // The run that stood in for an empty list gives way, if nothing was done with it.
        if let Some(fresh) = placeholder {
            self.runs.retain(|r| r.run_id != fresh || r.is_started());
        }
        let run_id = run.run_id;
        let name = run.name.clone();
        self.runs.insert(index.min(self.runs.len()), run);
        if was_running {
            self.send(Command::Resume { run_id });
        }
        self.select(run_id);
        self.notice = Some(Notice::Info(format!("brought back {name}")));
    }

    /// The name of the run that Undo would bring back.
    pub fn deleted_run_name(&self) -> Option<&str> {
        self.deleted.as_ref().map(|d| d.run.name.as_str())
    }

    /// Lets the trainer drop the run deleted last: it can no longer come back.
    fn forget_deleted(&mut self) {
        if let Some(deleted) = self.deleted.take()
            && deleted.run.is_started()
        {
            self.send(Command::Reset {
                run_id: deleted.run.run_id,
            });
        }
    }

    pub(super) fn take_run_id(&mut self) -> u64 {
        let id = self.next_run_id;
        self.next_run_id += 1;
        id
    }

    pub(super) fn send(&mut self, command: Command) {
        let Some(worker) = &self.worker else {
            self.notice = Some(Notice::Error("the trainer thread is not running".into()));
            return;
        };
        if let Err(err) = worker.send(command) {
            self.notice = Some(Notice::Error(err.to_string()));
        }
    }

    /// Carries out a button press or shortcut on the selected run.
    pub fn act(&mut self, action: RunAction) {
        let Some(run) = self.run() else {
            return;
        };
        let run_id = run.run_id;
        match action {
            RunAction::Start => self.start_selected(),
            RunAction::Pause => self.send(Command::Pause { run_id }),
            RunAction::Resume => {
                self.send(Command::Resume { run_id });
                self.notice = None;
            }
            RunAction::StepOnce => self.send(Command::StepOnce { run_id }),
            RunAction::Stop => self.send(Command::Stop { run_id }),
            RunAction::Reset => self.reset_selected(),
        }
    }

    /// Sends the selected run, not started yet, to the trainer with the settings in
    /// the panels.
    fn start_selected(&mut self) {
        if self.run().is_none_or(LiveRun::is_started) {
            return;
        }
        if let Err(err) = self.draft.validate() {
            self.notice = Some(Notice::Error(err.to_string()));
            return;
        }
        // A fresh id, so that nothing the trainer said about an earlier run of this
        // row can be mistaken for this one.
        let run_id = self.take_run_id();
        let config = self.draft.clone();
        self.send(Command::Start {
            run_id,
            config: Box::new(config.clone()),
        });
        if let Some(run) = self.run_mut() {
            run.mark_starting(run_id, config);
        }
        self.selected = run_id;
        self.heatmap.clear();
        self.time_heatmap.clear();
        self.notice = None;
    }

    /// Forgets the selected run's training: it keeps its place and name and takes the
    /// settings in the panels, ready for Start.
    fn reset_selected(&mut self) {
        let Some(run) = self.run() else {
            return;
        };
        let old_id = run.run_id;
        self.send(Command::Reset { run_id: old_id });
        self.compare.forget(old_id);
        let run_id = self.take_run_id();
        let config = self.draft.clone();
        if let Some(run) = self.run_mut() {
            let name = std::mem::take(&mut run.name);
            let (compared, color) = (run.compared, run.color);
            *run = LiveRun::not_started(run_id, name, config);
            run.compared = compared;
            run.color = color;
        }
        self.selected = run_id;
        if !self.runs.iter().any(LiveRun::is_started) {
            // Nothing trained is left: the next save is a new session.
            self.session_path = None;
            self.unsaved = false;
            self.comparing = false;
        }
        self.heatmap.clear();
        self.time_heatmap.clear();
        self.notice = None;
    }

    /// Replaces a trainer thread that ended (it never should) with a fresh one; the
    /// runs it had are over, their histories stay on screen and are handed to the new
    /// thread so that a save still includes them.
    pub(super) fn revive_worker(&mut self) {
        if self.worker.as_ref().is_none_or(Worker::is_alive) {
            return;
        }
        self.worker = None;
        // The run deleted last had its training state in the old thread: it cannot
        // come back whole.
        self.deleted = None;
        for run in &mut self.runs {
            if run.is_live() {
                run.phase = Phase::Trainer(RunState::Stopped);
            }
        }
        match spawn_worker(&self.ctx) {
            Ok(worker) => {
                self.worker = Some(worker);
                let adopted: Vec<Command> = self
                    .runs
                    .iter()
                    .filter(|r| r.is_started())
                    .map(|r| Command::Adopt {
                        run_id: r.run_id,
                        run: Box::new(SavedRun {
                            name: r.name.clone(),
                            config: r.config.clone(),
                            history: r.history.clone(),
                            checkpoint: None,
                        }),
                    })
                    .collect();
                for command in adopted {
                    self.send(command);
                }
                self.notice = Some(Notice::Error(
                    "the trainer stopped unexpectedly and was restarted; the runs on screen have ended"
                        .into(),
                ));
            }
            Err(notice) => self.notice = Some(notice),
        }
    }

    /// Moves everything the trainer reported into the app.
    pub(super) fn drain_events(&mut self) {
        let Some(worker) = &self.worker else {
            return;
        };
        for event in worker.drain() {
            match event {
                WorkerEvent::Opened {
                    runs,
                    view,
                    sweep,
                    path,
                } => self.on_opened(runs, view, sweep, path),
                WorkerEvent::OpenFailed { message, .. } => {
                    self.notice = Some(Notice::Error(message))
                }
                WorkerEvent::Saved {
                    result,
                    recovery: true,
                } => {
                    if let Err(message) = result {
                        log::warn!("the recovery copy was not written: {message}");
                    }
                }
                WorkerEvent::Saved {
                    result,
                    recovery: false,
                } => self.on_saved(result),
                run_event => self.on_run_event(run_event),
            }
        }
    }

    fn on_run_event(&mut self, event: WorkerEvent) {
        let several = self.runs.iter().filter(|r| r.is_started()).count() > 1;
        // The run deleted last hears of its steps too, so that Undo brings it back
        // with every step the trainer took.
        let deleted = self.deleted.as_mut().map(|d| &mut d.run);
        let Some(run) = self
            .runs
            .iter_mut()
            .chain(deleted)
            .find(|r| Some(r.run_id) == event.run_id())
        else {
            return; // A run the user has already reset or deleted for good.
        };
        // With several runs, a message says which one it is about.
        let prefix = if several {
            format!("{}: ", run.name)
        } else {
            String::new()
        };
        match event {
            WorkerEvent::Started { history, .. } => run.history = history,
            WorkerEvent::Steps { records, .. } => {
                self.unsaved = true;
                for record in &records {
                    run.history.push(record);
                }
                if let Some(last) = records.last() {
                    run.rate.add(Instant::now(), last.step);
                }
            }
            WorkerEvent::State { state, .. } => {
                if let RunState::Diverged { step, reason } = &state {
                    self.notice = Some(Notice::Error(format!(
                        "{prefix}diverged at step {step}: {reason}"
                    )));
                }
                // A sweep's run joins the comparison when it ends.
                let ended = matches!(state, RunState::Finished | RunState::Diverged { .. });
                if ended && self.sweep.as_ref().is_some_and(|s| s.owns(run.run_id)) {
                    run.compared = true;
                }
                run.phase = Phase::Trainer(state);
            }
            WorkerEvent::Failed { message, .. } => {
                self.notice = Some(Notice::Error(format!("{prefix}{message}")));
                // The settings stay, so that they can be corrected and started again.
                let name = std::mem::take(&mut run.name);
                let config = run.config.clone();
                let (compared, color) = (run.compared, run.color);
                *run = LiveRun::not_started(run.run_id, name, config);
                run.compared = compared;
                run.color = color;
            }
            WorkerEvent::Opened { .. }
            | WorkerEvent::OpenFailed { .. }
            | WorkerEvent::Saved { .. } => {}
        }
    }
}
