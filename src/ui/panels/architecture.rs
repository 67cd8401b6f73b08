//! Depth, width and residual connections.

use egui::Slider;

use super::{grid, help, row};
use crate::config::ModelConfig;

pub fn architecture_ui(ui: &mut egui::Ui, model: &mut ModelConfig) {
    help(
        ui,
        "Each layer multiplies the back-propagated gradient by its weights and its activation's \
         derivative, so depth compounds any shrinking or growing. Residual connections add an \
         identity path every k layers: the gradient can skip the layers in between, and the \
         heatmap's lower rows brighten.",
    );
    grid(ui, "architecture-grid", |ui| {
        row(ui, "hidden layers", |ui| {
            ui.add(Slider::new(&mut model.depth, 1..=100))
        });
        row(ui, "width", |ui| {
            ui.add(Slider::new(&mut model.width, 1..=1024).logarithmic(true))
        });
        row(ui, "residual every", |ui| {
            ui.add(Slider::new(&mut model.residual_every, 0..=10).suffix(" layers"))
                .on_hover_text(
                    "0 for none. Skips run from layer l − k to layer l for l = 1 + k, 1 + 2k, …",
                )
        });
    });
}
