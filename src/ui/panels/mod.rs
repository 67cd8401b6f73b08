//! The settings, one panel per cause or remedy, each with a few sentences on what it
//! does and what to look for in the heatmap.

mod activation;
mod architecture;
mod clipping;
mod initialisation;
mod normalisation;
mod optimiser;
mod regularisation;
mod task;
mod training;

use egui::{CollapsingHeader, RichText};

use super::theme;
use crate::config::Config;

/// What the panels show besides the settings: the learned PReLU slopes of the run.
pub struct PanelContext<'a> {
    pub prelu_slopes: &'a [f64],
}

/// Draws every panel for `config`; returns true if anything changed.
pub fn settings_ui(ui: &mut egui::Ui, config: &mut Config, context: &PanelContext<'_>) -> bool {
    let before = config.clone();
    section(ui, "Task", true, |ui| task::task_ui(ui, config));
    section(ui, "Architecture", true, |ui| {
        architecture::architecture_ui(ui, config)
    });
    section(ui, "Activation", true, |ui| {
        activation::activation_ui(ui, &mut config.model, context.prelu_slopes)
    });
    section(ui, "Initialisation", true, |ui| {
        initialisation::initialisation_ui(ui, &mut config.model)
    });
    section(ui, "Normalisation", false, |ui| {
        normalisation::normalisation_ui(ui, &mut config.model)
    });
    section(ui, "Gradient clipping", false, |ui| {
        clipping::clipping_ui(ui, &mut config.train)
    });
    section(ui, "Regularisation", false, |ui| {
        regularisation::regularisation_ui(ui, config)
    });
    section(ui, "Optimiser", true, |ui| {
        optimiser::optimiser_ui(ui, &mut config.train)
    });
    section(ui, "Training", false, |ui| {
        training::training_ui(ui, config)
    });
    *config != before
}

fn section(ui: &mut egui::Ui, title: &str, open: bool, add: impl FnOnce(&mut egui::Ui)) {
    CollapsingHeader::new(RichText::new(title).strong().size(15.0))
        .default_open(open)
        .show(ui, add);
}

/// A settings grid with one labelled widget per row.
fn grid(ui: &mut egui::Ui, id: &str, add: impl FnOnce(&mut egui::Ui)) {
    egui::Grid::new(id)
        .num_columns(2)
        .spacing([8.0, 4.0])
        .show(ui, add);
}

/// One row of a settings grid: a label and the widget it names (also for screen
/// readers and UI tests).
fn row(ui: &mut egui::Ui, label: &str, add: impl FnOnce(&mut egui::Ui) -> egui::Response) {
    let label = ui.label(label);
    add(ui).labelled_by(label.id);
    ui.end_row();
}

/// A combo box choosing one of `options`, named by `label_of`.
fn choice<T: Copy + PartialEq>(
    ui: &mut egui::Ui,
    id: &str,
    value: &mut T,
    options: &[T],
    label_of: impl Fn(T) -> &'static str,
) -> egui::Response {
    egui::ComboBox::from_id_salt(id)
        .selected_text(label_of(*value))
        .show_ui(ui, |ui| {
            for &option in options {
                ui.selectable_value(value, option, label_of(option));
            }
        })
        .response
}

/// What the panel does and what to look for, in small muted text.
fn help(ui: &mut egui::Ui, text: &str) {
    ui.label(RichText::new(text).small().color(theme::MUTED_TEXT_COLOR));
}
