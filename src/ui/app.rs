//! The app's state and the frame that ties the panels together.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Key, RichText};

use super::colorbar::colorbar_ui;
use super::curves::curves_ui;
use super::diagnosis_line::diagnosis_ui;
use super::files::{DialogPoll, DialogPurpose, PendingDialog, dialog_service_available};
use super::guide::guide_ui;
use super::heatmap::HeatmapView;
use super::panels::{PanelContext, settings_ui};
use super::profile::{profile_ui, run_theory};
use super::run_controls::{RunAction, run_controls_ui};
use super::screenshot::{Capture, Screenshots};
use super::session_browser::{BrowserAction, SESSIONS_FOLDER, SessionBrowser};
use super::status::status_ui;
use super::theme;
use crate::config::Config;
use crate::history::RunHistory;
use crate::presets::{self, PRESETS, Preset};
use crate::session::{SavedRun, ViewState};
use crate::theory::InitTheory;
use crate::train::{Command, LayerMetric, RunState, Worker, WorkerEvent};

/// Where a run is in its life, as the UI knows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Sent to the trainer, not yet confirmed.
    Starting,
    /// As last reported by the trainer.
    Trainer(RunState),
    /// Read from a session file; shown, not continued.
    Loaded,
}

/// The run on screen: its settings, what it recorded and where it is.
pub struct LiveRun {
    pub run_id: u64,
    pub config: Config,
    pub history: RunHistory,
    pub phase: Phase,
    rate: StepRate,
    /// The theory's profile at initialisation, computed once when the run is shown.
    pub theory: Option<InitTheory>,
}

impl LiveRun {
    /// A run shown from its recorded history alone, as one read from a file.
    pub fn from_history(run_id: u64, config: Config, history: RunHistory) -> Self {
        Self {
            run_id,
            theory: run_theory(&config),
            config,
            history,
            phase: Phase::Loaded,
            rate: StepRate::default(),
        }
    }

    pub fn is_live(&self) -> bool {
        match &self.phase {
            Phase::Starting => true,
            Phase::Trainer(state) => state.is_live(),
            Phase::Loaded => false,
        }
    }

    pub fn steps_per_sec(&self) -> Option<f64> {
        self.rate.per_sec()
    }
}

/// A message for the status line.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    Info(String),
    Error(String),
}

/// The whole app. Persisted settings (`draft`) are kept apart from runtime handles
/// (the worker thread, the texture).
pub struct GradLabApp {
    /// The settings being edited; a run takes a copy when it starts.
    pub draft: Config,
    pub run: Option<LiveRun>,
    pub metric: LayerMetric,
    pub notice: Option<Notice>,
    next_run_id: u64,
    worker: Option<Worker>,
    /// To wake this UI from the trainer thread, and to start a new one if it dies.
    ctx: egui::Context,
    heatmap: HeatmapView,
    /// A recurrent run's gradient across time, shown above the chosen metric.
    time_heatmap: HeatmapView,
    /// Where the run on screen was last opened from or saved to.
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
        let mut app = Self {
            draft: presets::default_config(),
            run: None,
            metric: LayerMetric::WeightGradNorm,
            notice,
            next_run_id: 1,
            worker,
            ctx: ctx.clone(),
            heatmap: HeatmapView::new("gradient-heatmap"),
            time_heatmap: HeatmapView::new("time-heatmap"),
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

    /// Asks the trainer thread to read a session; its answer arrives as an event, and the
    /// run on screen stays until a good file replaces it.
    pub fn open_session(&mut self, path: &Path) {
        let run_id = self.take_run_id();
        self.send(Command::Open {
            run_id,
            path: path.to_owned(),
        });
        self.notice = Some(Notice::Info(format!("opening {}…", path.display())));
    }

    /// Saves the run on screen with its training state: to `path`, or where it was last
    /// saved, or to a new file in the sessions folder named after its settings.
    pub fn save_session(&mut self, path: Option<PathBuf>) {
        let Some(run) = &self.run else {
            self.notice = Some(Notice::Error("there is no run to save yet".into()));
            return;
        };
        if run.phase == Phase::Loaded {
            self.notice = Some(Notice::Error(
                "this run was opened without its training state, so there is nothing new to save"
                    .into(),
            ));
            return;
        }
        // A new file is named after the settings and never replaces another session;
        // Save on an opened or saved session writes back to it.
        let (path, fresh_name) = match (path, &self.session_path) {
            (Some(chosen), _) => (chosen, false),
            (None, Some(current)) => (current.clone(), false),
            (None, None) => {
                let c = &run.config;
                let name = format!(
                    "{}-{}x{}-{}.json",
                    c.task.kind.label(),
                    c.model.depth,
                    c.model.width,
                    c.model.activation.label(),
                );
                (Path::new(SESSIONS_FOLDER).join(name), true)
            }
        };
        let name = path
            .file_stem()
            .map_or_else(|| "run".to_owned(), |s| s.to_string_lossy().into_owned());
        let view = self.view_state();
        self.send(Command::Save {
            path,
            name,
            view,
            recovery: false,
            fresh_name,
        });
    }

    /// What is on screen, as a session keeps it.
    fn view_state(&self) -> ViewState {
        ViewState {
            selected_run: 0,
            heatmap_metric: self.metric,
            heatmap_steps: self.heatmap.visible_steps(),
            ..ViewState::default()
        }
    }

    /// Refreshes the recovery copy now and then while there is unsaved training.
    fn keep_recovery_copy(&mut self) {
        let live = self.run.as_ref().is_some_and(LiveRun::is_live);
        if !live || !self.unsaved || self.last_recovery_save.elapsed() < RECOVERY_INTERVAL {
            return;
        }
        self.last_recovery_save = Instant::now();
        let view = self.view_state();
        self.send(Command::Save {
            path: recovery_path(),
            name: "recovered run".into(),
            view,
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
        let step = self.run.as_ref().map_or(0, |r| r.history.last_step());
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

    fn on_opened(
        &mut self,
        run_id: u64,
        run: SavedRun,
        view: ViewState,
        continuable: bool,
        path: PathBuf,
    ) {
        self.draft = run.config.clone();
        self.metric = view.heatmap_metric;
        self.heatmap.clear();
        self.time_heatmap.clear();
        self.heatmap.show_steps(view.heatmap_steps);
        self.time_heatmap.show_steps(view.heatmap_steps);
        // The trainer's state event follows when the run can continue.
        self.run = Some(LiveRun::from_history(run_id, run.config, run.history));
        let how = if continuable {
            "press Resume to continue training"
        } else {
            "no training state: view only"
        };
        self.notice = Some(Notice::Info(format!("opened {} ({how})", path.display())));
        // A recovered run is unsaved work: Save gives it a name of its own, and closing
        // asks first.
        let recovered = path.file_name().is_some_and(|n| n == RECOVERY_FILE);
        self.unsaved = recovered;
        self.session_path = (!recovered).then_some(path);
    }

    fn take_run_id(&mut self) -> u64 {
        let id = self.next_run_id;
        self.next_run_id += 1;
        id
    }

    fn send(&mut self, command: Command) {
        let Some(worker) = &self.worker else {
            self.notice = Some(Notice::Error("the trainer thread is not running".into()));
            return;
        };
        if let Err(err) = worker.send(command) {
            self.notice = Some(Notice::Error(err.to_string()));
        }
    }

    /// Carries out a button press or shortcut.
    pub fn act(&mut self, action: RunAction) {
        match action {
            RunAction::Start => {
                if let Err(err) = self.draft.validate() {
                    self.notice = Some(Notice::Error(err.to_string()));
                    return;
                }
                let run_id = self.take_run_id();
                self.send(Command::Start {
                    run_id,
                    config: Box::new(self.draft.clone()),
                });
                self.heatmap.clear();
                self.time_heatmap.clear();
                self.notice = None;
                self.run = Some(LiveRun {
                    run_id,
                    config: self.draft.clone(),
                    history: RunHistory::new(0),
                    phase: Phase::Starting,
                    rate: StepRate::default(),
                    theory: run_theory(&self.draft),
                });
            }
            RunAction::Pause => self.send(Command::Pause),
            RunAction::Resume => {
                self.send(Command::Resume);
                self.notice = None;
            }
            RunAction::StepOnce => self.send(Command::StepOnce),
            RunAction::Stop => self.send(Command::Stop),
            RunAction::Reset => {
                self.send(Command::Reset);
                self.run = None;
                self.session_path = None;
                self.unsaved = false;
                self.heatmap.clear();
                self.time_heatmap.clear();
                self.notice = None;
            }
        }
    }

    /// Replaces a trainer thread that ended (it never should) with a fresh one; the run
    /// it had is over, its history stays on screen.
    fn revive_worker(&mut self) {
        if self.worker.as_ref().is_none_or(Worker::is_alive) {
            return;
        }
        self.worker = None;
        if let Some(run) = &mut self.run
            && run.is_live()
        {
            run.phase = Phase::Trainer(RunState::Stopped);
        }
        self.notice = Some(match spawn_worker(&self.ctx) {
            Ok(worker) => {
                self.worker = Some(worker);
                Notice::Error("the trainer stopped unexpectedly and was restarted; the run on screen has ended".into())
            }
            Err(notice) => notice,
        });
    }

    /// Moves everything the trainer reported into the app.
    fn drain_events(&mut self) {
        let Some(worker) = &self.worker else {
            return;
        };
        for event in worker.drain() {
            match event {
                WorkerEvent::Opened {
                    run_id,
                    run,
                    view,
                    continuable,
                    path,
                } => self.on_opened(run_id, *run, view, continuable, path),
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

    fn on_saved(&mut self, result: Result<PathBuf, String>) {
        match result {
            Ok(path) => {
                self.notice = Some(Notice::Info(format!("saved {}", path.display())));
                self.session_path = Some(path);
                self.unsaved = false;
                if self.close_after_save {
                    self.close_confirmed = true;
                    self.ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
            Err(message) => {
                self.close_after_save = false;
                self.notice = Some(Notice::Error(format!("not saved: {message}")));
            }
        }
    }

    fn on_run_event(&mut self, event: WorkerEvent) {
        let Some(run) = self
            .run
            .as_mut()
            .filter(|r| Some(r.run_id) == event_run_id(&event))
        else {
            return; // A run the user has already reset.
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
                    self.notice = Some(Notice::Error(format!("diverged at step {step}: {reason}")));
                }
                run.phase = Phase::Trainer(state);
            }
            WorkerEvent::Failed { message, .. } => {
                self.notice = Some(Notice::Error(message));
                self.run = None;
            }
            WorkerEvent::Opened { .. }
            | WorkerEvent::OpenFailed { .. }
            | WorkerEvent::Saved { .. } => {}
        }
    }

    /// Draws one frame. The same function serves the window and the UI tests.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        self.drain_events();
        self.revive_worker();
        self.poll_dialog();
        self.screenshot_results();
        self.keep_recovery_copy();
        self.close_request_ui(ui);
        self.recovery_offer_ui(ui);
        self.shortcuts_ui(ui);
        match self.browser.browser_ui(&self.ctx.clone()) {
            Some(BrowserAction::Open(path)) => self.open_session(&path),
            Some(BrowserAction::SaveAs(path)) => self.save_session(Some(path)),
            None => {}
        }

        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status-bar").show(ui, |ui| {
            status_ui(ui, self.run.as_ref(), self.notice.as_ref())
        });
        egui::Panel::left("settings")
            .default_size(theme::LEFT_PANEL_WIDTH)
            .show(ui, |ui| self.settings_ui(ui));
        egui::Panel::bottom("curves")
            .resizable(true)
            .default_size(theme::CURVES_HEIGHT)
            .show(ui, |ui| {
                self.curves_rect = Some(ui.max_rect());
                curves_ui(ui, self.run.as_ref().map(|r| (&r.config, &r.history)));
            });
        egui::CentralPanel::default().show(ui, |ui| self.heatmap_panel_ui(ui));

        if self
            .run
            .as_ref()
            .is_some_and(|r| r.phase == Phase::Starting)
        {
            // The trainer's confirmation wakes the UI; this is only a safety net.
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
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
            ui.label("The run on screen has training that is not saved.");
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
            ui.label("Gradient Lab did not close cleanly last time. A copy of the run that was training is available.");
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
        let action = match self.run.as_ref().map(|r| &r.phase) {
            None => Some(RunAction::Start),
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
                .on_hover_text("Save the run with its training state (Ctrl+S)")
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
            let summary = match &self.run {
                Some(run) => format!("run: {}", run.config.summary()),
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
        let phase = self.run.as_ref().map(|r| r.phase.clone());
        if let Some(action) = run_controls_ui(ui, phase.as_ref()) {
            self.act(action);
        }
        if let Some(run) = &self.run
            && run.config != self.draft
        {
            ui.label(
                RichText::new("Settings differ from the run on screen. Reset, then Start, to train with them.")
                    .color(theme::WARNING_COLOR),
            );
        }
        if let Err(err) = self.draft.validate() {
            ui.label(RichText::new(err.to_string()).color(theme::ERROR_COLOR));
        }
        ui.separator();

        egui::ScrollArea::vertical().show(ui, |ui| {
            let slopes = self
                .run
                .as_ref()
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
    }

    /// The metrics the run on screen records, or the draft would.
    fn available_metrics(&self) -> Vec<LayerMetric> {
        match &self.run {
            Some(run) if run.history.num_layers() > 0 => run.history.metrics(),
            Some(run) => metrics_of(&run.config),
            None => metrics_of(&self.draft),
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
            }
        });

        if let Some((preset, config)) = &self.guide {
            let shows_other_run = self.run.as_ref().is_some_and(|r| &r.config != config);
            guide_ui(ui, preset, shows_other_run);
        }

        let Some(run) = &self.run else {
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
        let width =
            (size.x - theme::COLOR_BAR_WIDTH - theme::PROFILE_WIDTH - 2.0 * spacing.x).max(100.0);
        let source = (&run.config, &run.history);
        let row = |ui: &mut egui::Ui, view: &mut HeatmapView, metric: LayerMetric, height: f32| {
            ui.horizontal(|ui| {
                view.heatmap_ui(ui, egui::vec2(width, height), run.run_id, source, metric);
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

/// The metrics a run of `config` records, in menu order.
fn metrics_of(config: &Config) -> Vec<LayerMetric> {
    let rows = crate::train::rows::row_counts(config);
    LayerMetric::ALL
        .into_iter()
        .filter(|m| rows.get(m).is_some_and(|&n| n > 0))
        .collect()
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

fn event_run_id(event: &WorkerEvent) -> Option<u64> {
    match event {
        WorkerEvent::Started { run_id, .. }
        | WorkerEvent::Steps { run_id, .. }
        | WorkerEvent::State { run_id, .. }
        | WorkerEvent::Failed { run_id, .. }
        | WorkerEvent::Opened { run_id, .. } => Some(*run_id),
        WorkerEvent::OpenFailed { .. } | WorkerEvent::Saved { .. } => None,
    }
}

/// Steps per second over the last couple of seconds.
#[derive(Default)]
struct StepRate {
    samples: VecDeque<(Instant, u64)>,
}

impl StepRate {
    const WINDOW: Duration = Duration::from_secs(2);

    fn add(&mut self, at: Instant, step: u64) {
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
