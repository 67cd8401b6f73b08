//! The sweep dialog and the sweep's line in the run list. The dialog varies one setting
//! of the selected run over the values typed, checked as they are typed; Queue hands
//! the app a queue of runs that train in the background one or two at a time.

use egui::RichText;

use super::app::{LiveRun, Phase};
use super::theme;
use crate::config::{Config, settable_keys, setting_value};
use crate::sweep::{Sweep, SweepError};
use crate::sweep_queue::{MAX_AT_ONCE, SweepQueue};
use crate::train::RunState;

/// The key the dialog offers first: depth is the classic cause of vanishing gradients.
const DEFAULT_KEY: &str = "model.depth";
/// The key of the steps a run trains, which the dialog asks for on its own.
const STEPS_KEY: &str = "train.steps";

/// What the dialog holds between frames.
pub struct SweepDialog {
    open: bool,
    key: String,
    values: String,
    at_once: usize,
    /// The steps each run trains; `None` until the dialog first draws, then the base
    /// run's `train.steps`.
    steps: Option<u64>,
    /// Set when Queue was pressed while a value was wrong: nothing was queued.
    refused: bool,
}

impl Default for SweepDialog {
    fn default() -> Self {
        Self {
            open: false,
            key: DEFAULT_KEY.to_owned(),
            values: String::new(),
            at_once: 1,
            steps: None,
            refused: false,
        }
    }
}

impl SweepDialog {
    /// Opens the dialog; the steps each run trains start as the selected run's.
    pub fn show(&mut self) {
        self.open = true;
        self.refused = false;
        self.steps = None;
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Draws the dialog for the run named `base_name` with settings `base`. Returns
    /// the queue to start when the user pressed Queue and every value was good.
    /// `busy` is true while another sweep is queued: one sweep at a time.
    pub fn dialog_ui(
        &mut self,
        ctx: &egui::Context,
        base_name: &str,
        base: &Config,
        busy: bool,
    ) -> Option<SweepQueue> {
        let mut open = self.open;
        let mut queued = None;
        // Below the run list, in the middle, clear of the run controls.
        let top = ctx.content_rect().center_top() + egui::vec2(0.0, theme::SWEEP_DIALOG_TOP);
        egui::Window::new("Sweep")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .pivot(egui::Align2::CENTER_TOP)
            .default_pos(top)
            .default_width(theme::SWEEP_DIALOG_WIDTH)
            .show(ctx, |ui| {
                queued = self.contents_ui(ui, base_name, base, busy)
            });
        self.open = open && queued.is_none();
        queued
    }

    fn contents_ui(
        &mut self,
        ui: &mut egui::Ui,
        base_name: &str,
        base: &Config,
        busy: bool,
    ) -> Option<SweepQueue> {
        ui.label(format!(
            "One new run per value: the settings of {base_name} with one of them changed. \
             The runs train in the background, one after another or two at a time."
        ));
        ui.add_space(4.0);
        egui::Grid::new("sweep-form")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                let label = ui.label("setting:");
                let current = setting_value(base, &self.key).unwrap_or_default();
                egui::ComboBox::from_id_salt("sweep-key")
                    .selected_text(format!("{} (now {current})", self.key))
                    .width(theme::SWEEP_FIELD_WIDTH)
                    .height(theme::SWEEP_KEY_MENU_HEIGHT)
                    .show_ui(ui, |ui| {
                        for key in settable_keys(base) {
                            let now = setting_value(base, &key).unwrap_or_default();
                            let text = format!("{key} = {now}");
                            ui.selectable_value(&mut self.key, key, text);
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();

                let label = ui.label("values:");
                ui.add(
                    egui::TextEdit::singleline(&mut self.values)
                        .hint_text(values_hint(&current))
                        .desired_width(theme::SWEEP_FIELD_WIDTH),
                )
                .labelled_by(label.id);
                ui.end_row();

                // The swept key's own values would override the steps.
                if self.key != STEPS_KEY {
                    let label = ui.label("steps each:");
                    let steps = self.steps.get_or_insert(base.train.steps);
                    ui.add(egui::DragValue::new(steps).range(1..=u64::MAX).speed(10.0))
                        .labelled_by(label.id)
                        .on_hover_text("How long each run of the sweep trains (train.steps)");
                    ui.end_row();
                }

                ui.label("at once:");
                ui.horizontal(|ui| {
                    for count in 1..=MAX_AT_ONCE {
                        ui.radio_value(&mut self.at_once, count, format!("{count}"))
                            .on_hover_text(format!("Train {count} of the sweep's runs at a time"));
                    }
                });
                ui.end_row();
            });

        let mut base = base.clone();
        if let Some(steps) = self.steps.filter(|_| self.key != STEPS_KEY) {
            base.train.steps = steps;
        }
        let plan = plan(&self.key, &self.values, self.at_once, &base);
        match &plan {
            Ok(queue) => {
                let names: Vec<&str> = queue.pending().map(|r| r.name.as_str()).collect();
                ui.label(format!("queues {} runs: {}", names.len(), names.join(", ")));
            }
            Err(Problems::Unfinished(hint)) => {
                ui.label(RichText::new(hint).color(theme::MUTED_TEXT_COLOR));
            }
            Err(Problems::Wrong(messages)) => {
                for message in messages {
                    ui.label(RichText::new(message).color(theme::ERROR_COLOR));
                }
            }
        }
        if self.refused && plan.is_err() {
            ui.label(RichText::new("Nothing was queued.").color(theme::ERROR_COLOR));
        }

        ui.add_space(4.0);
        let queue = ui
            .add_enabled(!busy, egui::Button::new("Queue"))
            .on_hover_text("Queue the runs; each appears in the run list when it starts")
            .on_disabled_hover_text("A sweep is queued already: cancel it or let it finish");
        if !queue.clicked() {
            return None;
        }
        match plan {
            Ok(queue) => {
                self.refused = false;
                Some(queue)
            }
            Err(_) => {
                self.refused = true;
                None
            }
        }
    }
}

/// What to type for a setting whose value is now `current`.
fn values_hint(current: &str) -> String {
    if current.parse::<f64>().is_ok() {
        "comma-separated numbers, e.g. 5, 10, 20, 40".to_owned()
    } else if current.parse::<bool>().is_ok() {
        "true, false".to_owned()
    } else {
        format!("comma-separated names, e.g. {current}, …")
    }
}

/// Why the values typed cannot be queued yet.
enum Problems {
    /// Not enough typed yet to be wrong: a hint at what to type.
    Unfinished(String),
    /// One message per thing that is wrong, each naming the value.
    Wrong(Vec<String>),
}

/// The queue of `key` over the comma-separated `values` from `base`, `at_once` at a
/// time, or what is wrong.
fn plan(key: &str, values: &str, at_once: usize, base: &Config) -> Result<SweepQueue, Problems> {
    let sweep = Sweep::parse(&format!("{key}={values}")).map_err(|err| match err {
        SweepError::EmptyValue { position, .. } => Problems::Unfinished(format!(
            "value {position} is empty: separate the values by single commas"
        )),
        _ => Problems::Unfinished("Type two values or more, separated by commas.".to_owned()),
    })?;
    let (runs, errors) = sweep.check(base);
    if errors.is_empty() {
        return Ok(SweepQueue::new(&sweep, runs, at_once));
    }
    Err(Problems::Wrong(errors.iter().map(describe).collect()))
}

/// A sweep error in the app's words: the value first, then what is allowed.
fn describe(error: &SweepError) -> String {
    match error {
        SweepError::BadValue { value, error, .. } => format!("`{value}`: {error}"),
        SweepError::Duplicate { first, second, .. } => {
            format!("`{second}` gives the same setting as `{first}`: every value must differ")
        }
        SweepError::Base(error) => {
            format!("the run's own settings are out of range, whatever the value: {error}")
        }
        other => other.to_string(),
    }
}

/// What the user asked of the sweep in its line above the run list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepAction {
    /// Go on with a sweep read from a session.
    Continue,
    Cancel,
}

/// The sweep's line above the run list: what trains, what waits, Continue for a sweep
/// read from a session, and Cancel.
pub fn sweep_status_ui(
    ui: &mut egui::Ui,
    sweep: &SweepQueue,
    runs: &[LiveRun],
) -> Option<SweepAction> {
    /// The names of the sweep's runs for which `filter` holds.
    fn names<'a>(
        sweep: &SweepQueue,
        runs: &'a [LiveRun],
        filter: impl Fn(&LiveRun) -> bool,
    ) -> Vec<&'a str> {
        runs.iter()
            .filter(|r| sweep.owns(r.run_id) && filter(r))
            .map(|r| r.name.as_str())
            .collect()
    }
    let queued: Vec<&str> = sweep.pending().map(|r| r.name.as_str()).collect();
    let mut parts = vec![format!(
        "Sweep of {}, {} at a time",
        sweep.key(),
        sweep.at_once()
    )];
    if sweep.is_waiting() {
        parts.push(format!("waiting: {} runs remain", queued.len()));
        // Those that were training when the session was saved: Continue resumes them.
        let paused = names(sweep, runs, |r| r.phase == Phase::Trainer(RunState::Paused));
        if !paused.is_empty() {
            parts.push(format!("paused: {}", paused.join(", ")));
        }
    } else {
        let training = names(sweep, runs, LiveRun::is_live);
        if !training.is_empty() {
            parts.push(format!("training: {}", training.join(", ")));
        }
    }
    parts.push(if queued.is_empty() {
        "nothing queued".to_owned()
    } else {
        format!("queued: {}", queued.join(", "))
    });

    let mut action = None;
    ui.horizontal(|ui| {
        ui.label(RichText::new(parts.join(" · ")).color(theme::WARNING_COLOR));
        if sweep.is_waiting()
            && ui
                .button("Continue sweep")
                .on_hover_text(
                    "Resume the sweep's paused runs and start the queued ones as their \
                     turn comes",
                )
                .clicked()
        {
            action = Some(SweepAction::Continue);
        }
        if ui
            .button("Cancel sweep")
            .on_hover_text(
                "Drop the queued runs and pause the ones training (Resume continues one; \
                 its steps are kept)",
            )
            .clicked()
        {
            action = Some(SweepAction::Cancel);
        }
    });
    action
}
