//! The experiment's settings, grouped by what they are, each group with a sentence on
//! what to look for.

use egui::{ComboBox, DragValue, RichText, Slider};

use super::theme;
use crate::config::{Activation, Config, Init, Precision, TaskKind};

/// Draws the controls for `config`; returns true if anything changed.
pub fn config_panel_ui(ui: &mut egui::Ui, config: &mut Config) -> bool {
    let before = config.clone();
    task_ui(ui, config);
    ui.add_space(theme::SECTION_SPACING);
    network_ui(ui, config);
    ui.add_space(theme::SECTION_SPACING);
    training_ui(ui, config);
    *config != before
}

/// One row of a settings grid: a label and the widget it names (also for screen
/// readers and UI tests).
fn row(ui: &mut egui::Ui, label: &str, add: impl FnOnce(&mut egui::Ui) -> egui::Response) {
    let label = ui.label(label);
    add(ui).labelled_by(label.id);
    ui.end_row();
}

fn help(ui: &mut egui::Ui, text: &str) {
    ui.label(RichText::new(text).small().color(theme::MUTED_TEXT_COLOR));
}

fn task_ui(ui: &mut egui::Ui, config: &mut Config) {
    ui.heading("Task");
    help(
        ui,
        "What the network learns. Digits are real 8×8 handwritten digits; the 2-D sets are drawn from the seed.",
    );
    egui::Grid::new("task-grid").num_columns(2).show(ui, |ui| {
        row(ui, "data", |ui| {
            ComboBox::from_id_salt("task-kind")
                .selected_text(config.task.kind.label())
                .show_ui(ui, |ui| {
                    for kind in TaskKind::ALL {
                        ui.selectable_value(&mut config.task.kind, kind, kind.label());
                    }
                })
                .response
        });

        if config.task.kind != TaskKind::Digits {
            row(ui, "noise σ", |ui| {
                ui.add(Slider::new(&mut config.task.noise, 0.0..=1.0))
            });
        }
    });
}

fn network_ui(ui: &mut egui::Ui, config: &mut Config) {
    let model = &mut config.model;
    ui.heading("Network");
    help(
        ui,
        "A stack of fully connected layers. Saturating activations (sigmoid, tanh) multiply \
         derivatives below 1 layer after layer: watch the heatmap darken toward layer 1.",
    );
    egui::Grid::new("network-grid")
        .num_columns(2)
        .show(ui, |ui| {
            row(ui, "hidden layers", |ui| {
                ui.add(Slider::new(&mut model.depth, 1..=100))
            });

            row(ui, "width", |ui| {
                ui.add(Slider::new(&mut model.width, 1..=1024).logarithmic(true))
            });

            row(ui, "activation", |ui| {
                ComboBox::from_id_salt("activation")
                    .selected_text(model.activation.label())
                    .show_ui(ui, |ui| {
                        for activation in Activation::ALL {
                            ui.selectable_value(
                                &mut model.activation,
                                activation,
                                activation.label(),
                            );
                        }
                    })
                    .response
            });

            if model.activation == Activation::LeakyRelu {
                row(ui, "negative slope", |ui| {
                    ui.add(Slider::new(&mut model.leaky_slope, 0.0..=1.0))
                });
            }

            row(ui, "initialisation", |ui| {
                ComboBox::from_id_salt("init")
                    .selected_text(model.init.label())
                    .show_ui(ui, |ui| {
                        for init in Init::ALL {
                            ui.selectable_value(&mut model.init, init, init.label());
                        }
                    })
                    .response
            });

            match model.init {
                Init::Normal => {
                    row(ui, "σ", |ui| {
                        ui.add(Slider::new(&mut model.init_scale, 1e-4..=10.0).logarithmic(true))
                    });
                }
                Init::Uniform => {
                    row(ui, "a (of U(−a, a))", |ui| {
                        ui.add(Slider::new(&mut model.init_scale, 1e-4..=10.0).logarithmic(true))
                    });
                }
                _ => {}
            }

            row(ui, "gain", |ui| {
                ui.add(Slider::new(&mut model.init_gain, 0.01..=100.0).logarithmic(true))
            });
        });
}

fn training_ui(ui: &mut egui::Ui, config: &mut Config) {
    let train = &mut config.train;
    ui.heading("Training");
    help(
        ui,
        "Plain SGD on mini-batches. Everything random (split, weights, batches) comes from the seed.",
    );
    egui::Grid::new("training-grid")
        .num_columns(2)
        .show(ui, |ui| {
            row(ui, "learning rate", |ui| {
                ui.add(Slider::new(&mut train.lr, 1e-5..=10.0).logarithmic(true))
            });

            row(ui, "batch size", |ui| {
                ui.add(Slider::new(&mut train.batch_size, 1..=1024).logarithmic(true))
            });

            row(ui, "steps", |ui| {
                ui.add(
                    DragValue::new(&mut train.steps)
                        .range(1..=10_000_000)
                        .speed(100),
                )
            });

            row(ui, "test every", |ui| {
                ui.add(
                    DragValue::new(&mut train.eval_every)
                        .range(1..=100_000)
                        .suffix(" steps"),
                )
            });

            row(ui, "precision", |ui| {
                ui.horizontal(|ui| {
                    ui.radio_value(&mut train.dtype, Precision::F32, "f32");
                    ui.radio_value(&mut train.dtype, Precision::F64, "f64")
                        .on_hover_text(
                            "f32 gradients stop near 1e-45; f64 shows how far they really fall.",
                        );
                })
                .response
            });

            row(ui, "seed", |ui| ui.add(DragValue::new(&mut config.seed)));
        });
}
