//! Dropout and weight decay.

use egui::Slider;

use super::{grid, help, row};
use crate::config::{Config, Optimizer};

pub fn regularisation_ui(ui: &mut egui::Ui, config: &mut Config) {
    help(
        ui,
        "Dropout zeroes a random fraction of hidden units in training (never at test time); \
         weight decay pulls the weights toward zero. Both fight over-fitting, and neither \
         was designed against vanishing gradients: see what they do to the heatmap.",
    );
    let decoupled = config.train.optimizer == Optimizer::Adamw;
    grid(ui, "regularisation-grid", |ui| {
        let mlp = !config.model.kind.is_recurrent();
        row(ui, "dropout rate", |ui| {
            ui.add_enabled(mlp, Slider::new(&mut config.model.dropout, 0.0..=0.9))
                .on_disabled_hover_text("Dropout applies to MLPs only")
        });
        row(ui, "weight decay", |ui| {
            ui.add(Slider::new(&mut config.train.weight_decay, 0.0..=0.1))
                .on_hover_text(if decoupled {
                    "AdamW: decoupled, the weights shrink directly"
                } else {
                    "coupled L2: the penalty's gradient joins the loss's"
                })
        });
    });
}
