//! Saving and opening the session: every run with its training state, the names, the
//! compared runs and the selected one. The trainer thread does the file work; the UI
//! only asks and shows the answer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{GradLabApp, LiveRun, Notice, RECOVERY_FILE, RECOVERY_INTERVAL, recovery_path};
use crate::session::{MAX_RUNS, SavedSweep, ViewState};
use crate::train::{Command, OpenedRun, RunToSave};
use crate::ui::session_browser::SESSIONS_FOLDER;
use crate::ui::theme;

impl GradLabApp {
    /// Opens a session in place of the runs on screen; over unsaved work it asks first
    /// (save, then open; open without saving; or cancel).
    pub fn open_session(&mut self, path: &Path) {
        if self.unsaved {
            self.open_prompt = Some(path.to_owned());
        } else {
            self.open_session_now(path);
        }
    }

    /// Asks the trainer thread to read a session; its answer arrives as an event, and the
    /// runs on screen stay until a good file replaces them.
    pub(super) fn open_session_now(&mut self, path: &Path) {
        // The file's runs get ids of their own, whatever runs start meanwhile.
        let first_run_id = self.next_run_id;
        self.next_run_id += MAX_RUNS as u64;
        self.send(Command::Open {
            first_run_id,
            path: path.to_owned(),
        });
        self.notice = Some(Notice::Info(format!("opening {}…", path.display())));
    }

    /// Saves every run of the session, each with its training state: to `path`, or where
    /// the session was last saved, or to a new file in the sessions folder named after
    /// its settings.
    pub fn save_session(&mut self, path: Option<PathBuf>) {
        let started: Vec<&LiveRun> = self.runs.iter().filter(|r| r.is_started()).collect();
        let Some(first) = started.first() else {
            self.notice = Some(Notice::Error("there is no run to save yet".into()));
            return;
        };
        if let Some((run, err)) = self
            .runs
            .iter()
            .filter(|r| !r.is_started())
            .find_map(|r| r.config.validate().err().map(|e| (r, e)))
        {
            self.notice = Some(Notice::Error(format!(
                "not saved: {} (not started) has a setting out of range: {err}",
                run.name
            )));
            return;
        }

        // A new file is named after the settings and never replaces another session;
        // Save on an opened or saved session writes back to it.
        let (path, fresh_name) = match (path, &self.session_path) {
            (Some(chosen), _) => (chosen, false),
            (None, Some(current)) => (current.clone(), false),
            (None, None) => {
                let c = &first.config;
                let name = if started.len() == 1 {
                    format!(
                        "{}-{}x{}-{}.json",
                        c.task.kind.label(),
                        c.model.depth,
                        c.model.width,
                        c.model.activation.label(),
                    )
                } else {
                    format!("{}-{}-runs.json", c.task.kind.label(), started.len())
                };
                (Path::new(SESSIONS_FOLDER).join(name), true)
            }
        };
        let runs = self.runs_to_save();
        let view = self.view_state();
        let sweep = self.saved_sweep();
        self.send(Command::Save {
            path,
            runs,
            view,
            sweep,
            recovery: false,
            fresh_name,
        });
    }

    /// Every run in the list's order, as the trainer is to write them.
    fn runs_to_save(&self) -> Vec<RunToSave> {
        self.runs
            .iter()
            .map(|run| {
                if run.is_started() {
                    RunToSave::Held {
                        run_id: run.run_id,
                        name: run.name.clone(),
                    }
                } else {
                    RunToSave::NotStarted {
                        name: run.name.clone(),
                        config: Box::new(run.config.clone()),
                    }
                }
            })
            .collect()
    }

    /// What is on screen, as a session keeps it.
    pub(super) fn view_state(&self) -> ViewState {
        let all_compared = self.runs.iter().all(|r| r.compared);
        ViewState {
            selected_run: self.selected_index().unwrap_or(0),
            heatmap_metric: self.metric,
            heatmap_steps: self.heatmap.visible_steps(),
            compared_runs: (!all_compared).then(|| {
                (0..self.runs.len())
                    .filter(|&i| self.runs[i].compared)
                    .collect()
            }),
            comparing: self.comparing,
        }
    }

    /// Refreshes the recovery copy now and then while there is unsaved training.
    pub(super) fn keep_recovery_copy(&mut self) {
        let live = self.runs.iter().any(LiveRun::is_live);
        if !live || !self.unsaved || self.last_recovery_save.elapsed() < RECOVERY_INTERVAL {
            return;
        }
        // An unfinished setting of a run not started yet must not spoil the copy.
        if self
            .runs
            .iter()
            .any(|r| !r.is_started() && r.config.validate().is_err())
        {
            return;
        }
        self.last_recovery_save = Instant::now();
        let runs = self.runs_to_save();
        let view = self.view_state();
        let sweep = self.saved_sweep();
        self.send(Command::Save {
            path: recovery_path(),
            runs,
            view,
            sweep,
            recovery: true,
            fresh_name: false,
        });
    }

    /// Removes the recovery copy and its sidecars; called when the app closes cleanly.
    pub fn discard_recovery_copy() {
        let Ok(entries) = std::fs::read_dir(SESSIONS_FOLDER) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name == RECOVERY_FILE || name.starts_with(".recovery.run"))
                && let Err(err) = std::fs::remove_file(entry.path())
            {
                log::warn!("could not remove the recovery copy {name}: {err}");
            }
        }
    }

    /// The runs of a session that was read replace the ones on screen.
    pub(super) fn on_opened(
        &mut self,
        opened: Vec<OpenedRun>,
        view: ViewState,
        sweep: Option<SavedSweep>,
        path: PathBuf,
    ) {
        // The trainer has dropped the runs it held; any started after the file was asked
        // for are dropped here too, so that none trains unseen.
        for run in std::mem::take(&mut self.runs) {
            if run.is_started() {
                self.send(Command::Reset { run_id: run.run_id });
            }
        }
        // The trainer has let go of the run deleted last; the sweep on screen gives way to
        // the file's, which waits until it is continued.
        self.deleted = None;
        let run_ids: Vec<u64> = opened.iter().map(|r| r.run_id).collect();
        self.sweep = sweep.map(|s| s.into_queue(&run_ids));
        let continuable = opened.iter().filter(|r| r.continuable).count();
        self.runs = opened
            .into_iter()
            .enumerate()
            .map(|(index, opened)| {
                let OpenedRun {
                    run_id,
                    run,
                    continuable,
                } = opened;
                let mut live = if run.history.is_empty() && !continuable {
                    LiveRun::not_started(run_id, run.name, run.config)
                } else {
                    // The trainer's state event follows when the run can continue.
                    let mut live = LiveRun::from_history(run_id, run.config, run.history);
                    live.name = run.name;
                    live
                };
                live.compared = view.is_compared(index);
                live.color = index % theme::RUN_COLOR_COUNT;
                live.from_sweep = self.sweep.as_ref().is_some_and(|s| s.owns(run_id));
                live
            })
            .collect();

        let index = view.selected_run.min(self.runs.len().saturating_sub(1));
        if let Some(run) = self.runs.get(index) {
            self.selected = run.run_id;
            self.draft = run.config.clone();
        }
        self.metric = view.heatmap_metric;
        self.comparing = view.comparing;
        self.heatmap.clear();
        self.time_heatmap.clear();
        self.heatmap.show_steps(view.heatmap_steps);
        self.time_heatmap.show_steps(view.heatmap_steps);
        self.compare.clear();

        let how = match (self.runs.len(), continuable) {
            (1, 1) => "press Resume to continue training".to_owned(),
            (1, _) => "no training state: view only".to_owned(),
            (n, 0) => format!("{n} runs, view only"),
            (n, c) if c == n => format!("{n} runs; select one and press Resume to continue it"),
            (n, c) => format!("{n} runs, {c} of them can continue training"),
        };
        let waiting = self.sweep.as_ref().map_or_else(String::new, |sweep| {
            format!(
                "; the sweep of {} waits with {} runs to go: Continue sweep goes on",
                sweep.key(),
                sweep.pending().count()
            )
        });
        self.notice = Some(Notice::Info(format!(
            "opened {} ({how}){waiting}",
            path.display()
        )));
        // A recovered session is unsaved work: Save gives it a name of its own, and
        // closing asks first.
        let recovered = path.file_name().is_some_and(|n| n == RECOVERY_FILE);
        for run in &mut self.runs {
            run.saved_step = if recovered {
                0
            } else {
                run.history.last_step()
            };
        }
        self.unsaved = recovered;
        self.session_path = (!recovered).then_some(path);
    }

    pub(super) fn on_saved(&mut self, result: Result<PathBuf, String>) {
        match result {
            Ok(path) => {
                let runs = self.runs.iter().filter(|r| r.is_started()).count();
                let what = if runs == 1 {
                    String::new()
                } else {
                    format!(" ({runs} runs)")
                };
                self.notice = Some(Notice::Info(format!("saved {}{what}", path.display())));
                self.session_path = Some(path);
                self.unsaved = false;
                // Steps that arrive after this event were taken after the save.
                for run in &mut self.runs {
                    run.saved_step = run.history.last_step();
                }
                if self.close_after_save {
                    self.close_confirmed = true;
                    self.ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                if let Some(next) = self.open_after_save.take() {
                    self.open_session_now(&next);
                }
            }
            Err(message) => {
                self.close_after_save = false;
                self.open_after_save = None;
                self.notice = Some(Notice::Error(format!("not saved: {message}")));
            }
        }
    }
}
