//! The session's runs, one row each: the colour it has in comparisons, its name (edited
//! in place), its state and last loss, and the settings in which it differs from the
//! first run. Above them: Duplicate, Delete (and Undo), Sweep and the choice of view.

use egui::{RichText, Role, Sense, WidgetInfo, vec2};

use super::app::LiveRun;
use super::heatmap::format_value;
use super::theme;
use crate::config::{Difference, differences};

/// What the user asked of the run list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunListAction {
    /// Select this run: its settings fill the panels and the run controls act on it.
    Select(u64),
    /// Select this run and show it alone, leaving the comparison.
    Show(u64),
    /// A new run with the settings in the panels, not started.
    Duplicate,
    Delete(u64),
    /// Bring back the run deleted last.
    UndoDelete,
    /// Open the sweep dialog on the selected run.
    Sweep,
    /// Show the ticked runs side by side (true) or the selected run alone.
    Compare(bool),
}

/// Draws the list; names and the comparison ticks are edited in place. `deleted` names
/// the run that Undo would bring back. Returns the action the user took, if any.
pub fn run_list_ui(
    ui: &mut egui::Ui,
    runs: &mut [LiveRun],
    selected: u64,
    comparing: bool,
    deleted: Option<&str>,
) -> Option<RunListAction> {
    let mut action = None;
    let compared = runs.iter().filter(|r| r.compared && r.is_started()).count();
    ui.horizontal(|ui| {
        ui.label(RichText::new("Runs").strong());
        if ui
            .button("Duplicate")
            .on_hover_text("A new run with the settings on the left: change one, then press Start")
            .clicked()
        {
            action = Some(RunListAction::Duplicate);
        }
        if ui
            .button("Delete")
            .on_hover_text("Remove the selected run from the session (Undo brings it back)")
            .clicked()
        {
            action = Some(RunListAction::Delete(selected));
        }
        if let Some(name) = deleted
            && ui
                .button(format!("Undo delete of {name}"))
                .on_hover_text("Bring the run back with its steps, where it stood")
                .clicked()
        {
            action = Some(RunListAction::UndoDelete);
        }
        if ui
            .button("Sweep…")
            .on_hover_text(
                "Vary one setting of the selected run over several values: one new run per \
                 value, trained in the background",
            )
            .clicked()
        {
            action = Some(RunListAction::Sweep);
        }
        ui.separator();
        ui.label("show:");
        if ui
            .selectable_label(!comparing, "Selected run")
            .on_hover_text("The selected run alone, with its per-layer profile and diagnosis")
            .clicked()
        {
            action = Some(RunListAction::Compare(false));
        }
        let compare = ui
            .add_enabled(
                compared > 0,
                egui::Button::selectable(comparing, format!("Compare ({compared})")),
            )
            .on_hover_text("The ticked runs side by side, on one colour scale")
            .on_disabled_hover_text("Tick the runs to compare, once they have started");
        if compare.clicked() {
            action = Some(RunListAction::Compare(true));
        }
    });

    let reference = runs.first().map(|r| r.config.clone());
    // New runs join at the bottom (a duplicate, a sweep's next run): the list keeps
    // them in sight.
    egui::ScrollArea::vertical()
        .auto_shrink([false, true])
        .stick_to_bottom(true)
        .show(ui, |ui| {
            egui::Grid::new("run-list")
                .num_columns(4)
                .striped(true)
                .spacing([10.0, 2.0])
                .show(ui, |ui| {
                    for (index, run) in runs.iter_mut().enumerate() {
                        let diff = match (&reference, index) {
                            (_, 0) | (None, _) => None,
                            (Some(first), _) => Some(differences(first, &run.config)),
                        };
                        if let Some(chosen) = run_row_ui(ui, index, run, selected, diff) {
                            action = Some(chosen);
                        }
                        ui.end_row();
                    }
                });
        });
    action
}

/// One row: tick and colour, name, state, differences.
fn run_row_ui(
    ui: &mut egui::Ui,
    index: usize,
    run: &mut LiveRun,
    selected: u64,
    diff: Option<Vec<Difference>>,
) -> Option<RunListAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        let label = format!("compare {}", run.name);
        let checked = run.compared;
        ui.checkbox(&mut run.compared, "")
            .on_hover_text("Show this run in the comparison view")
            .widget_info(|| WidgetInfo::selected(Role::CheckBox, true, checked, &label));
        let (rect, _) = ui.allocate_exact_size(
            vec2(theme::RUN_SWATCH_SIZE, theme::RUN_SWATCH_SIZE),
            Sense::hover(),
        );
        ui.painter()
            .rect_filled(rect, 2.0, theme::run_color(run.color));
    });

    // Sized explicitly: a grid cell would otherwise keep the width of its first frame.
    let name = ui.add_sized(
        vec2(theme::RUN_NAME_WIDTH, ui.spacing().interact_size.y),
        egui::TextEdit::singleline(&mut run.name).hint_text("name"),
    );
    if name.gained_focus() {
        action = Some(RunListAction::Select(run.run_id));
    }
    if name.lost_focus() && run.name.trim().is_empty() {
        run.name = format!("run {}", index + 1);
    }

    let is_selected = run.run_id == selected;
    let state = ui
        .selectable_label(is_selected, state_text(run))
        .on_hover_text("Show this run alone");
    if state.clicked() {
        action = Some(RunListAction::Show(run.run_id));
    }

    let (text, hover) = match diff {
        None => (
            "first run: the others are described by how they differ from it".to_owned(),
            None,
        ),
        Some(diff) if diff.is_empty() => ("same settings as the first run".to_owned(), None),
        Some(diff) => {
            let short: Vec<String> = diff.iter().map(Difference::short).collect();
            let long: Vec<String> = diff
                .iter()
                .map(|d| {
                    format!(
                        "{}: {} here, {} in the first run",
                        d.key, d.value, d.reference
                    )
                })
                .collect();
            (short.join(" · "), Some(long.join("\n")))
        }
    };
    let label =
        ui.add(egui::Label::new(RichText::new(text).color(theme::MUTED_TEXT_COLOR)).truncate());
    if let Some(hover) = hover {
        label.on_hover_text(format!("differs from the first run in\n{hover}"));
    }
    action
}

/// "running · step 1200 · loss 0.412", or what to do with a run not started.
fn state_text(run: &LiveRun) -> String {
    if !run.is_started() {
        return "not started: press Start".to_owned();
    }
    let mut text = format!("{} · step {}", run.phase.label(), run.history.last_step());
    if let Some(&loss) = run.history.loss().last() {
        text.push_str(&format!(" · loss {}", format_loss(loss)));
    }
    text
}

/// Three decimals where that reads well, scientific notation elsewhere.
fn format_loss(loss: f64) -> String {
    if loss.is_finite() && (loss == 0.0 || (1e-2..1e3).contains(&loss.abs())) {
        format!("{loss:.3}")
    } else {
        format_value(loss)
    }
}
