//! How the weights are drawn.

use egui::Slider;

use super::{choice, grid, help, row};
use crate::config::{Init, ModelConfig};

pub fn initialisation_ui(ui: &mut egui::Ui, model: &mut ModelConfig) {
    help(
        ui,
        "Too small and every layer scales the signal down; too large and it explodes or \
         saturates. Xavier suits tanh, He suits ReLU, LeCun suits SELU: each keeps the variance \
         of the signal about constant from layer to layer. The gain multiplies any scheme, so \
         'too small' and 'too large' are one slider away.",
    );
    grid(ui, "init-grid", |ui| {
        row(ui, "scheme", |ui| {
            choice(ui, "init", &mut model.init, &Init::ALL, Init::label)
        });
        match model.init {
            Init::Normal => row(ui, "σ", |ui| {
                ui.add(Slider::new(&mut model.init_scale, 1e-4..=10.0).logarithmic(true))
            }),
            Init::Uniform => row(ui, "a of U(−a, a)", |ui| {
                ui.add(Slider::new(&mut model.init_scale, 1e-4..=10.0).logarithmic(true))
            }),
            _ => {}
        }
        row(ui, "gain", |ui| {
            ui.add(Slider::new(&mut model.init_gain, 0.01..=100.0).logarithmic(true))
        });
    });
}
