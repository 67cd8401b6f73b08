//! The built-in session browser: the sessions in `saved_sessions/` with their date,
//! runs and settings, and a path field, for machines without a dialog service. The
//! folder is read on a thread of its own.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::SystemTime;

use egui::RichText;

use super::theme;
use crate::session::Session;

/// Where sessions go by default.
pub const SESSIONS_FOLDER: &str = "saved_sessions";

/// One session file as the browser lists it.
#[derive(Clone, Debug)]
pub struct SessionEntry {
    pub path: PathBuf,
    pub modified: Option<SystemTime>,
    /// Runs, last step and settings of the last run, or why the file cannot be read.
    pub description: Result<String, String>,
}

/// What the user asked the browser for.
pub enum BrowserAction {
    Open(PathBuf),
    SaveAs(PathBuf),
}

/// The browser window's state.
#[derive(Default)]
pub struct SessionBrowser {
    pub open: bool,
    entries: Vec<SessionEntry>,
    scanning: Option<Receiver<Vec<SessionEntry>>>,
    typed_path: String,
    save_path: String,
}

impl SessionBrowser {
    /// Opens the window and lists the folder afresh.
    pub fn show(&mut self, wake: impl Fn() + Send + 'static) {
        self.open = true;
        let (sender, receiver) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("gradlab-session-scan".into())
            .spawn(move || {
                if sender.send(scan(Path::new(SESSIONS_FOLDER))).is_ok() {
                    wake();
                }
            });
        match spawned {
            Ok(_) => self.scanning = Some(receiver),
            Err(err) => log::warn!("could not list the sessions: {err}"),
        }
    }

    /// Draws the window; returns what the user chose to do.
    pub fn browser_ui(&mut self, ctx: &egui::Context) -> Option<BrowserAction> {
        if let Some(receiver) = &self.scanning
            && let Ok(entries) = receiver.try_recv()
        {
            self.entries = entries;
            self.scanning = None;
        }
        let mut chosen = None;
        let mut open = self.open;
        egui::Window::new("Open a session")
            .open(&mut open)
            .default_width(640.0)
            .show(ctx, |ui| {
                ui.label(
                    RichText::new(format!("Sessions in {SESSIONS_FOLDER}/, newest first"))
                        .color(theme::MUTED_TEXT_COLOR),
                );
                if self.scanning.is_some() {
                    ui.spinner();
                } else if self.entries.is_empty() {
                    ui.label("No sessions saved yet.");
                }
                egui::ScrollArea::vertical()
                    .max_height(360.0)
                    .show(ui, |ui| {
                        egui::Grid::new("session-list")
                            .striped(true)
                            .num_columns(3)
                            .show(ui, |ui| {
                                for entry in &self.entries {
                                    let name =
                                        entry.path.file_name().map_or_else(String::new, |n| {
                                            n.to_string_lossy().into_owned()
                                        });
                                    if ui
                                        .button(&name)
                                        .on_hover_text("Open this session")
                                        .clicked()
                                    {
                                        chosen = Some(BrowserAction::Open(entry.path.clone()));
                                    }
                                    ui.label(entry.modified.map_or_else(String::new, age));
                                    match &entry.description {
                                        Ok(text) => ui.label(text),
                                        Err(why) => {
                                            ui.label(RichText::new(why).color(theme::ERROR_COLOR))
                                        }
                                    };
                                    ui.end_row();
                                }
                            });
                    });
                ui.separator();
                if let Some(path) =
                    path_row(ui, "or open a file:", "Open file", &mut self.typed_path)
                {
                    chosen = Some(BrowserAction::Open(path));
                }
                if let Some(mut path) =
                    path_row(ui, "save the run as:", "Save here", &mut self.save_path)
                {
                    if path.extension().is_none() {
                        path.set_extension("json");
                    }
                    chosen = Some(BrowserAction::SaveAs(path));
                }
            });
        self.open = open && chosen.is_none();
        chosen
    }
}

/// A labelled path field with a button; Enter in the field counts as the button.
fn path_row(ui: &mut egui::Ui, label: &str, button: &str, text: &mut String) -> Option<PathBuf> {
    ui.horizontal(|ui| {
        let label = ui.label(label);
        let field = ui.text_edit_singleline(text).labelled_by(label.id);
        let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let typed = text.trim();
        let clicked = ui
            .add_enabled(!typed.is_empty(), egui::Button::new(button))
            .clicked();
        ((clicked || entered) && !typed.is_empty()).then(|| PathBuf::from(typed))
    })
    .inner
}

/// Every `.json` file of `folder`, newest first, described.
fn scan(folder: &Path) -> Vec<SessionEntry> {
    let Ok(listing) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut entries: Vec<SessionEntry> = listing
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        // Hidden files, such as the recovery copy, are not sessions the user saved.
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .map(|path| SessionEntry {
            modified: std::fs::metadata(&path).and_then(|m| m.modified()).ok(),
            description: describe(&path),
            path,
        })
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.modified));
    entries
}

fn describe(path: &Path) -> Result<String, String> {
    let session = Session::load_without_state(path).map_err(|e| e.to_string())?;
    let runs = session.runs.len();
    let last = session.runs.last().ok_or("no runs")?;
    Ok(format!(
        "{runs} run{} · step {} · {}",
        if runs == 1 { "" } else { "s" },
        last.history.last_step(),
        last.config.summary()
    ))
}

/// How long ago `time` was, in the largest whole unit.
fn age(time: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(time)
        .map_or(0, |d| d.as_secs());
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}
