//! The app's state and the frame that ties the panels together.

mod live_run;
mod runs;
mod session_io;
mod sweeps;

pub use live_run::{LiveRun, Phase};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Key, RichText};

use super::colorbar::colorbar_ui;
use super::compare::CompareView;
use super::compare_curves::compare_curves_ui;
use super::curves::curves_ui;
use super::diagnosis_line::diagnosis_ui;
use super::files::{DialogPoll, DialogPurpose, PendingDialog, dialog_service_available};
use super::flow_chart::flow_chart_ui;
use super::guide::{guide_ui, same_experiment};
use super::heatmap::HeatmapView;
use super::panels::{PanelContext, settings_ui};
use super::profile::profile_ui;
use super::run_controls::{RunAction, run_controls_ui};
use super::run_list::{RunListAction, run_list_ui};
use super::screenshot::{Capture, Screenshots};
use super::session_browser::{BrowserAction, SESSIONS_FOLDER, SessionBrowser};
use super::status::status_ui;
use super::sweep_dialog::{SweepAction, SweepDialog, sweep_status_ui};
use super::theme;
use crate::config::Config;
use crate::presets::{self, PRESETS, Preset};
use crate::sweep_queue::SweepQueue;
use crate::train::{LayerMetric, RunState, Worker};

/// A message for the status line.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    Info(String),
    Error(String),
}

/// The whole app. Persisted settings (`draft`) are kept apart from runtime handles
/// (the worker thread, the texture).
pub struct GradLabApp {
    /// The settings in the panels: those of the selected run, which a run not started
    /// yet takes as they change, and a started run only through Reset.
    pub draft: Config,
    /// Every run of the session, in the run list's order; never empty.
    pub runs: Vec<LiveRun>,
    /// The run shown alone and driven by the run controls.
    selected: u64,
    /// True while the comparison view is on screen rather than the selected run.
    pub comparing: bool,
    pub metric: LayerMetric,
    pub notice: Option<Notice>,
    next_run_id: u64,
    worker: Option<Worker>,
    /// To wake this UI from the trainer thread, and to start a new one if it dies.
    ctx: egui::Context,
    heatmap: HeatmapView,
    /// A recurrent run's gradient across time, shown above the chosen metric.
    time_heatmap: HeatmapView,
    compare: CompareView,
    /// The run deleted last, which Undo brings back.
    deleted: Option<runs::DeletedRun>,
    /// The sweep whose runs wait or train, started as earlier ones end.
    sweep: Option<SweepQueue>,
    sweep_dialog: SweepDialog,
    /// Where the session was last opened from or saved to.
    session_path: Option<PathBuf>,
    browser: SessionBrowser,
    dialog: Option<PendingDialog>,
    screenshots: Screenshots,
    /// Where the heatmap and curve panels were drawn last frame, for cropped screenshots.
    heatmap_rect: Option<egui::Rect>,
    curves_rect: Option<egui::Rect>,
    /// Steps recorded since the last save or open.
    pub unsaved: bool,
    last_recovery_save: Instant,
    /// A recovery copy left by a session that did not close cleanly.
    recovery_offer: Option<PathBuf>,
    close_prompt: bool,
    close_after_save: bool,
    /// A session asked to open over unsaved work, waiting for the user's answer.
    open_prompt: Option<PathBuf>,
    /// A session to open once the save under way has succeeded.
    open_after_save: Option<PathBuf>,
    close_confirmed: bool,
    /// The built-in experiment last loaded, whose guide is shown, with its settings
    /// (parsed once, to compare with the run on screen).
    guide: Option<(&'static Preset, Config)>,
}

/// The copy of the open session kept while training, in case the app crashes.
pub const RECOVERY_FILE: &str = ".recovery.json";
/// How often the recovery copy is refreshed while there is unsaved training.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(60);

fn recovery_path() -> PathBuf {
    Path::new(SESSIONS_FOLDER).join(RECOVERY_FILE)
}

/// Starts a trainer thread that wakes `ctx` when it has news.
fn spawn_worker(ctx: &egui::Context) -> Result<Worker, Notice> {
    let wake_ctx = ctx.clone();
    Worker::spawn(Box::new(move || wake_ctx.request_repaint()))
        .map_err(|err| Notice::Error(format!("could not start the trainer thread: {err}")))
}

impl GradLabApp {
    /// Starts the trainer thread and opens the default experiment, or `open`.
    pub fn new(ctx: &egui::Context, open: Option<PathBuf>) -> Self {
        let (worker, notice) = match spawn_worker(ctx) {
            Ok(worker) => (Some(worker), None),
            Err(notice) => (None, Some(notice)),
        };
        let draft = presets::default_config();
        let mut app = Self {
            runs: vec![LiveRun::not_started(1, "run 1".into(), draft.clone())],
            draft,
            selected: 1,
            comparing: false,
            metric: LayerMetric::WeightGradNorm,
            notice,
            next_run_id: 2,
            worker,
            ctx: ctx.clone(),
            heatmap: HeatmapView::new("gradient-heatmap"),
            time_heatmap: HeatmapView::new("time-heatmap"),
            compare: CompareView::default(),
            deleted: None,
            sweep: None,
            sweep_dialog: SweepDialog::default(),
            session_path: None,
            browser: SessionBrowser::default(),
            dialog: None,
            screenshots: Screenshots::default(),
            heatmap_rect: None,
            curves_rect: None,
            unsaved: false,
            last_recovery_save: Instant::now(),
            recovery_offer: recovery_path().exists().then(recovery_path),
            close_prompt: false,
            close_after_save: false,
            open_prompt: None,
            open_after_save: None,
            close_confirmed: false,
            guide: presets::find(presets::DEFAULT_PRESET)
                .ok()
                .and_then(|p| p.config().ok().map(|c| (p, c))),
        };
        if let Some(path) = open {
            app.open_session(&path);
        }
        app
    }

    /// Saves a screenshot of the window or one panel, named after the session, run
    /// and step.
    fn screenshot(&mut self, capture: Capture) {
        let crop = match capture {
            Capture::Window => None,
            Capture::Heatmap => self.heatmap_rect,
            Capture::Curves => self.curves_rect,
        };
        if capture != Capture::Window && crop.is_none() {
            self.notice = Some(Notice::Error(format!(
                "there is no {} panel on screen to capture",
                capture.label()
            )));
            return;
        }
        let session = self
            .session_path
            .as_ref()
            .and_then(|p| p.file_stem())
            .map_or_else(
                || "gradlab".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            );
        let step = self.run().map_or(0, |r| r.history.last_step());
        let panel = match capture {
            Capture::Heatmap => format!("heatmap-{}", self.metric.name()),
            other => other.label().to_owned(),
        };
        // The screenshot thread adds -2, -3, … rather than overwrite an earlier one.
        let name = format!("{session}-step{step}-{panel}");
        self.screenshots.request(&self.ctx, crop, name);
    }

    fn screenshot_results(&mut self) {
        for result in self.screenshots.finished() {
            self.notice = Some(match result {
                Ok(path) => Notice::Info(format!("screenshot saved to {}", path.display())),
                Err(message) => Notice::Error(format!("screenshot not saved: {message}")),
            });
        }
    }

    fn show_dialog(&mut self, purpose: DialogPurpose) {
        if !dialog_service_available() {
            let fallback = match purpose {
                DialogPurpose::Open => "use Open… and its path field",
                DialogPurpose::SaveAs => "use Open… and its \"save the run as\" field",
                DialogPurpose::ScreenshotFolder => "screenshots go to the screenshots/ folder",
            };
            self.notice = Some(Notice::Error(format!(
                "this desktop has no file dialog (no desktop portal, no zenity): {fallback}"
            )));
            if purpose != DialogPurpose::ScreenshotFolder {
                let wake_ctx = self.ctx.clone();
                self.browser.show(move || wake_ctx.request_repaint());
            }
            return;
        }
        let wake_ctx = self.ctx.clone();
        match PendingDialog::show(purpose, PathBuf::from(SESSIONS_FOLDER), move || {
            wake_ctx.request_repaint()
        }) {
            Ok(dialog) => self.dialog = Some(dialog),
            Err(err) => {
                self.notice = Some(Notice::Error(format!(
                    "could not show a file dialog: {err}"
                )))
            }
        }
    }

    fn poll_dialog(&mut self) {
        let Some(dialog) = &self.dialog else {
            return;
        };
        let purpose = dialog.purpose;
        match dialog.poll() {
            DialogPoll::Waiting => {}
            DialogPoll::Cancelled => self.dialog = None,
            DialogPoll::Picked(path) => {
                self.dialog = None;
                match purpose {
                    DialogPurpose::Open => self.open_session(&path),
                    DialogPurpose::SaveAs => self.save_session(Some(path)),
                    DialogPurpose::ScreenshotFolder => {
                        self.notice = Some(Notice::Info(format!(
                            "screenshots go to {}",
                            path.display()
                        )));
                        self.screenshots.folder = path;
                    }
                }
            }
        }
    }

    /// Draws one frame. The same function serves the window and the UI tests.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        self.drain_events();
        self.advance_sweep();
        self.revive_worker();
        self.poll_dialog();
        self.screenshot_results();
        self.keep_recovery_copy();
        self.close_request_ui(ui);
        self.open_prompt_ui(ui);
        self.recovery_offer_ui(ui);
        self.shortcuts_ui(ui);
        match self.browser.browser_ui(&self.ctx.clone()) {
            Some(BrowserAction::Open(path)) => self.open_session(&path),
            Some(BrowserAction::SaveAs(path)) => self.save_session(Some(path)),
            None => {}
        }

        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| {
            let others_running = self
                .runs
                .iter()
                .filter(|r| {
                    r.run_id != self.selected && r.phase == Phase::Trainer(RunState::Running)
                })
                .count();
            status_ui(ui, self.run(), others_running, self.notice.as_ref())
        });
        egui::Panel::left("settings")
            .default_size(theme::LEFT_PANEL_WIDTH)
            .show(ui, |ui| self.settings_ui(ui));
        egui::Panel::bottom("curves")
            .resizable(true)
            .default_size(theme::CURVES_HEIGHT)
            .show(ui, |ui| {
                self.curves_rect = Some(ui.max_rect());
                if self.comparing {
                    self.compare_curves_panel_ui(ui);
                } else {
                    curves_ui(ui, self.run().map(|r| (&r.config, &r.history)));
                }
            });
        egui::Panel::top("run-list")
            .resizable(true)
            .default_size(theme::RUN_LIST_HEIGHT)
            .show(ui, |ui| self.run_list_panel_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| self.heatmap_panel_ui(ui));
        self.sweep_dialog_ui(ui);

        if self.runs.iter().any(|r| r.phase == Phase::Starting) {
            // The trainer's confirmation wakes the UI; this is only a safety net.
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
    }

    fn run_list_panel_ui(&mut self, ui: &mut egui::Ui) {
        match self
            .sweep
            .as_ref()
            .and_then(|sweep| sweep_status_ui(ui, sweep, &self.runs))
        {
            Some(SweepAction::Continue) => self.continue_sweep(),
            Some(SweepAction::Cancel) => self.cancel_sweep(),
            None => {}
        }
        let undo = self.deleted_run_name().map(str::to_owned);
        let labels = |runs: &[LiveRun]| -> Vec<(String, bool)> {
            runs.iter().map(|r| (r.name.clone(), r.compared)).collect()
        };
        let before = labels(&self.runs);
        let action = run_list_ui(
            ui,
            &mut self.runs,
            self.selected,
            self.comparing,
            undo.as_deref(),
        );
        // Names and ticks are part of the saved session.
        if labels(&self.runs) != before {
            self.mark_edited();
        }
        match action {
            Some(RunListAction::Select(run_id)) => self.select(run_id),
            Some(RunListAction::Show(run_id)) => {
                self.select(run_id);
                self.comparing = false;
            }
            Some(RunListAction::Duplicate) => self.duplicate(),
            Some(RunListAction::Delete(run_id)) => {
                self.delete_run(run_id);
                self.mark_edited();
            }
            Some(RunListAction::UndoDelete) => {
                self.undo_delete();
                self.mark_edited();
            }
            Some(RunListAction::Sweep) => self.sweep_dialog.show(),
            Some(RunListAction::Compare(on)) => self.comparing = on,
            None => {}
        }
    }

    /// The sweep dialog, on the selected run's settings.
    fn sweep_dialog_ui(&mut self, ui: &mut egui::Ui) {
        if !self.sweep_dialog.is_open() {
            return;
        }
        let Some((name, config)) = self.run().map(|r| (r.name.clone(), r.config.clone())) else {
            return;
        };
        let busy = self.sweep.is_some();
        if let Some(queue) = self.sweep_dialog.dialog_ui(ui.ctx(), &name, &config, busy) {
            self.queue_sweep(queue);
        }
    }

    /// The compared runs' loss and accuracy overlaid, and their gradient flow.
    fn compare_curves_panel_ui(&mut self, ui: &mut egui::Ui) {
        let runs = Self::compared_runs(&self.runs);
        let width = ui.available_width();
        let height = ui.available_height();
        let flow_width = (width / 3.0).max(240.0);
        let hovered_step = self.compare.hover().map(|h| h.step);
        let curves_width = width - flow_width - ui.spacing().item_spacing.x;
        ui.horizontal_top(|ui| {
            compare_curves_ui(ui, egui::vec2(curves_width, height), &runs);
            ui.vertical(|ui| {
                flow_chart_ui(
                    ui,
                    egui::vec2(flow_width, height),
                    &runs,
                    self.metric,
                    hovered_step,
                    &mut self.compare.flow_step,
                );
            });
        });
    }

    /// Records that the session differs from its file (when it has something to save).
    fn mark_edited(&mut self) {
        if self.runs.iter().any(LiveRun::is_started) {
            self.unsaved = true;
        }
    }

    /// Opening another session over unsaved work asks first.
    fn open_prompt_ui(&mut self, ui: &mut egui::Ui) {
        let Some(path) = self.open_prompt.clone() else {
            return;
        };
        egui::Modal::new(egui::Id::unique("open-prompt")).show(ui.ctx(), |ui| {
            ui.heading("Save before opening?");
            ui.label(format!(
                "The session has work that is not saved. Opening {} replaces its runs.",
                path.display()
            ));
            ui.horizontal(|ui| {
                if ui.button("Save, then open").clicked() {
                    self.open_prompt = None;
                    self.open_after_save = Some(path.clone());
                    self.save_session(None);
                }
                if ui.button("Open without saving").clicked() {
                    self.open_prompt = None;
                    self.open_session_now(&path);
                }
                if ui.button("Cancel").clicked() {
                    self.open_prompt = None;
                }
            });
        });
    }

    /// Closing with unsaved training asks first.
    fn close_request_ui(&mut self, ui: &mut egui::Ui) {
        if ui.input(|i| i.viewport().close_requested()) && self.unsaved && !self.close_confirmed {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.close_prompt = true;
        }
        if !self.close_prompt {
            return;
        }
        egui::Modal::new(egui::Id::unique("close-prompt")).show(ui.ctx(), |ui| {
            ui.heading("Save before closing?");
            ui.label("The session has training that is not saved.");
            ui.horizontal(|ui| {
                if ui.button("Save and close").clicked() {
                    self.close_prompt = false;
                    self.close_after_save = true;
                    self.save_session(None);
                }
                if ui.button("Close without saving").clicked() {
                    self.close_prompt = false;
                    self.close_confirmed = true;
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
                if ui.button("Cancel").clicked() {
                    self.close_prompt = false;
                }
            });
        });
    }

    /// Offers the recovery copy a previous session left behind.
    fn recovery_offer_ui(&mut self, ui: &mut egui::Ui) {
        let Some(path) = self.recovery_offer.clone() else {
            return;
        };
        egui::Window::new("Recover unsaved work?").collapsible(false).show(ui.ctx(), |ui| {
            ui.label("Gradient Lab did not close cleanly last time. A copy of the runs that were training is available.");
            ui.horizontal(|ui| {
                if ui.button("Open the copy").clicked() {
                    self.recovery_offer = None;
                    self.open_session(&path);
                }
                if ui.button("Discard it").clicked() {
                    self.recovery_offer = None;
                    Self::discard_recovery_copy();
                }
            });
        });
    }

    fn shortcuts_ui(&mut self, ui: &mut egui::Ui) {
        // The shortcuts with modifiers first: a plain F12 also matches Shift+F12.
        let shots = [
            (
                egui::KeyboardShortcut::new(egui::Modifiers::SHIFT, Key::F12),
                Capture::Heatmap,
            ),
            (
                egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, Key::F12),
                Capture::Curves,
            ),
            (
                egui::KeyboardShortcut::new(egui::Modifiers::NONE, Key::F12),
                Capture::Window,
            ),
        ];
        for (shortcut, capture) in shots {
            if ui.input_mut(|i| i.consume_shortcut(&shortcut)) {
                self.screenshot(capture);
            }
        }
        let save = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, Key::S);
        let open = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, Key::O);
        if ui.input_mut(|i| i.consume_shortcut(&save)) {
            self.save_session(None);
        }
        if ui.input_mut(|i| i.consume_shortcut(&open)) {
            let wake_ctx = self.ctx.clone();
            self.browser.show(move || wake_ctx.request_repaint());
        }
        let typing = ui.ctx().memory(|m| m.focused().is_some());
        if typing || !ui.input(|i| i.key_pressed(Key::Space)) {
            return;
        }
        let action = match self.run().map(|r| &r.phase) {
            Some(Phase::NotStarted) => Some(RunAction::Start),
            Some(Phase::Trainer(RunState::Running)) => Some(RunAction::Pause),
            Some(Phase::Trainer(RunState::Paused)) => Some(RunAction::Resume),
            _ => None,
        };
        if let Some(action) = action {
            self.act(action);
        }
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Gradient Lab");
            ui.separator();
            if ui
                .button("Open…")
                .on_hover_text("Saved sessions, or any file by path (Ctrl+O)")
                .clicked()
            {
                let wake_ctx = self.ctx.clone();
                self.browser.show(move || wake_ctx.request_repaint());
            }
            if ui
                .button("Open with dialog…")
                .on_hover_text("The system's file dialog, where there is one")
                .clicked()
            {
                self.show_dialog(DialogPurpose::Open);
            }
            if ui
                .button("Save")
                .on_hover_text("Save every run with its training state (Ctrl+S)")
                .clicked()
            {
                self.save_session(None);
            }
            if ui.button("Save as…").clicked() {
                self.show_dialog(DialogPurpose::SaveAs);
            }
            ui.menu_button("Screenshot", |ui| {
                for (capture, keys) in [
                    (Capture::Window, "F12"),
                    (Capture::Heatmap, "Shift+F12"),
                    (Capture::Curves, "Ctrl+F12"),
                ] {
                    if ui.button(format!("{} ({keys})", capture.label())).clicked() {
                        self.screenshot(capture);
                        ui.close();
                    }
                }
                ui.separator();
                ui.label(format!("saved to {}/", self.screenshots.folder.display()));
                if ui.button("Choose folder…").clicked() {
                    self.show_dialog(DialogPurpose::ScreenshotFolder);
                    ui.close();
                }
            });
            ui.separator();
            let label = ui.label("experiment:");
            egui::ComboBox::from_id_salt("preset")
                .selected_text(
                    self.guide
                        .as_ref()
                        .map_or("load a preset…", |(p, _)| p.name),
                )
                .width(220.0)
                .show_ui(ui, |ui| {
                    for preset in PRESETS {
                        if ui
                            .selectable_label(false, preset.name)
                            .on_hover_text(preset.description)
                            .clicked()
                        {
                            match preset.config() {
                                Ok(config) => {
                                    self.draft = config.clone();
                                    self.guide = Some((preset, config));
                                    self.metric = preset.metric;
                                }
                                Err(err) => self.notice = Some(Notice::Error(err.to_string())),
                            }
                        }
                    }
                })
                .response
                .labelled_by(label.id);
            let summary = match self.run().filter(|r| r.is_started()) {
                Some(run) => format!("{}: {}", run.name, run.config.summary()),
                None => format!("settings: {}", self.draft.summary()),
            };
            ui.add(
                egui::Label::new(RichText::new(summary).color(theme::MUTED_TEXT_COLOR)).truncate(),
            );
        });
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui) {
        // The run controls stay put; only the settings scroll.
        ui.heading("Run");
        let phase = self
            .run()
            .map(|r| r.phase.clone())
            .filter(|p| *p != Phase::NotStarted);
        if let Some(action) = run_controls_ui(ui, phase.as_ref()) {
            self.act(action);
        }
        if let Some(run) = self.run()
            && run.is_started()
            && run.config != self.draft
        {
            ui.label(
                RichText::new(format!(
                    "Settings differ from {}. Train them as a new run beside it, or Reset, then \
                     Start, to train this run again with them.",
                    run.name
                ))
                .color(theme::WARNING_COLOR),
            );
            if ui
                .button("New run with these settings")
                .on_hover_text("Adds a run, not started, with the settings below; then press Start")
                .clicked()
            {
                self.duplicate();
            }
        }
        if let Err(err) = self.draft.validate() {
            ui.label(RichText::new(err.to_string()).color(theme::ERROR_COLOR));
        }
        ui.separator();

        egui::ScrollArea::vertical().show(ui, |ui| {
            let selected = self.selected;
            let slopes = self
                .runs
                .iter()
                .find(|r| r.run_id == selected)
                .and_then(|r| {
                    r.history
                        .len()
                        .checked_sub(1)
                        .map(|c| r.history.prelu_slopes(c))
                })
                .unwrap_or(&[]);
            settings_ui(
                ui,
                &mut self.draft,
                &PanelContext {
                    prelu_slopes: slopes,
                },
            );
        });

        // A run not started yet takes the settings as they change.
        let draft = &self.draft;
        let selected = self.selected;
        if let Some(run) = self
            .runs
            .iter_mut()
            .find(|r| r.run_id == selected && !r.is_started())
            && run.config != *draft
        {
            run.config = draft.clone();
        }
    }

    /// The metrics the run on screen records, or the draft would; in the comparison,
    /// those that any compared run records.
    fn available_metrics(&self) -> Vec<LayerMetric> {
        let of_run = |run: &LiveRun| {
            if run.history.num_layers() > 0 {
                run.history.metrics()
            } else {
                crate::train::rows::recorded_metrics(&run.config)
            }
        };
        if self.comparing {
            let recorded: Vec<Vec<LayerMetric>> = self
                .runs
                .iter()
                .filter(|r| r.compared && r.is_started())
                .map(of_run)
                .collect();
            return LayerMetric::ALL
                .into_iter()
                .filter(|m| recorded.iter().any(|metrics| metrics.contains(m)))
                .collect();
        }
        match self.run() {
            Some(run) => of_run(run),
            None => crate::train::rows::recorded_metrics(&self.draft),
        }
    }

    fn heatmap_panel_ui(&mut self, ui: &mut egui::Ui) {
        self.heatmap_rect = None;
        let metrics = self.available_metrics();
        if !metrics.contains(&self.metric) {
            self.metric = LayerMetric::WeightGradNorm;
        }
        ui.horizontal(|ui| {
            let label = ui.label("heatmap:");
            egui::ComboBox::from_id_salt("heatmap-metric")
                .selected_text(self.metric.label())
                .width(260.0)
                .show_ui(ui, |ui| {
                    for metric in metrics {
                        ui.selectable_value(&mut self.metric, metric, metric.label());
                    }
                })
                .response
                .labelled_by(label.id);
            if ui
                .button("Follow newest")
                .on_hover_text(
                    "Show the whole run and keep up with it (or double-click the heatmap)",
                )
                .clicked()
            {
                self.heatmap.follow_newest();
                self.time_heatmap.follow_newest();
                self.compare.follow_newest();
            }
        });

        // The comparison needs the room; the guide is about one experiment.
        if let Some((preset, config)) = self.guide.as_ref().filter(|_| !self.comparing) {
            // A run of the session that trains the experiment is enough: the others
            // are meant to differ from it, as a sweep's runs do.
            let shows_other_run = self.run().is_some_and(|r| {
                r.is_started() && !r.from_sweep && !same_experiment(&r.config, config)
            }) && !self
                .runs
                .iter()
                .any(|r| r.is_started() && same_experiment(&r.config, config));
            guide_ui(ui, preset, shows_other_run);
        }

        if self.comparing {
            self.heatmap_rect = Some(ui.available_rect_before_wrap());
            let runs = Self::compared_runs(&self.runs);
            self.compare.compare_ui(ui, &runs, self.metric);
            return;
        }

        let Some(run) = self
            .runs
            .iter()
            .find(|r| r.run_id == self.selected && r.is_started())
        else {
            ui.centered_and_justified(|ui| {
                ui.label(
                    RichText::new(
                        "Press Start (or Space) to train.\n\nEach column of the heatmap will be one training step, \
                         each row one layer, coloured by log10 of the gradient norm.",
                    )
                    .size(16.0)
                    .color(theme::MUTED_TEXT_COLOR),
                );
            });
            return;
        };

        let size = ui.available_size() - egui::vec2(0.0, theme::DIAGNOSIS_HEIGHT);
        let spacing = ui.spacing().item_spacing;
        let top_left = ui.cursor().min;
        self.heatmap_rect = Some(egui::Rect::from_min_size(
            top_left,
            egui::vec2(size.x, size.y + theme::DIAGNOSIS_HEIGHT),
        ));
        // A recurrent run shows its gradient across time above the chosen metric.
        let across_time = run.history.is_recurrent() && self.metric != LayerMetric::HiddenGradNorm;
        let (time_height, metric_height) = if across_time {
            let half = (size.y - spacing.y) / 2.0;
            (half, half)
        } else {
            (0.0, size.y)
        };
        let width = (size.x
            - theme::COLOR_BAR_WIDTH
            - theme::COLOR_BAR_GAP
            - theme::PROFILE_WIDTH
            - 2.0 * spacing.x)
            .max(100.0);
        let source = (&run.config, &run.history);
        let row = |ui: &mut egui::Ui, view: &mut HeatmapView, metric: LayerMetric, height: f32| {
            ui.horizontal(|ui| {
                view.heatmap_ui(ui, egui::vec2(width, height), run.run_id, source, metric);
                ui.add_space(theme::COLOR_BAR_GAP);
                colorbar_ui(ui, height, view.range(), metric.symbol());
                profile_ui(
                    ui,
                    egui::vec2(theme::PROFILE_WIDTH, height),
                    &run.history,
                    metric,
                    run.theory.as_ref(),
                );
            });
        };
        if across_time {
            row(
                ui,
                &mut self.time_heatmap,
                LayerMetric::HiddenGradNorm,
                time_height,
            );
        }
        row(ui, &mut self.heatmap, self.metric, metric_height);
        diagnosis_ui(ui, &run.history, run.config.model.probed_activation());
    }
}

impl eframe::App for GradLabApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // A clean exit: the recovery copy is not needed (it would be offered next time).
        Self::discard_recovery_copy();
    }
}
