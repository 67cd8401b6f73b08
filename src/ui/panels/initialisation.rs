//! How the weights are drawn.

use egui::Slider;

use super::{choice, grid, help, row};
use crate::config::{Init, ModelConfig};

/// σ of `normal` or a of `uniform`, when the scheme has one.
fn scale_row(ui: &mut egui::Ui, init: Init, scale: &mut f64) {
    match init {
        Init::Normal => row(ui, "σ", |ui| {
            ui.add(Slider::new(scale, 1e-4..=10.0).logarithmic(true))
        }),
        Init::Uniform => row(ui, "a of U(−a, a)", |ui| {
            ui.add(Slider::new(scale, 1e-4..=10.0).logarithmic(true))
        }),
        _ => {}
    }
}

pub fn initialisation_ui(ui: &mut egui::Ui, model: &mut ModelConfig) {
    help(
        ui,
        "Too small and every layer scales the signal down; too large and it explodes or \
         saturates. Xavier suits tanh, He suits ReLU, LeCun suits SELU: each keeps the variance \
         of the signal about constant from layer to layer. The gain multiplies any scheme, so \
         'too small' and 'too large' are one slider away.",
    );
    let recurrent = model.kind.is_recurrent();
    grid(ui, "init-grid", |ui| {
        let scheme = if recurrent { "input weights" } else { "scheme" };
        row(ui, scheme, |ui| {
            choice(ui, "init", &mut model.init, &Init::ALL, Init::label)
        });
        scale_row(ui, model.init, &mut model.init_scale);
        row(ui, "gain", |ui| {
            ui.add(Slider::new(&mut model.init_gain, 0.01..=100.0).logarithmic(true))
        });
        if recurrent {
            row(ui, "recurrent weights", |ui| {
                choice(
                    ui,
                    "recurrent-init",
                    &mut model.recurrent_init,
                    &Init::ALL,
                    Init::label,
                )
                .on_hover_text(
                    "W_h, each gate's block drawn on its own. Orthogonal and identity (IRNN) \
                     start with every singular value at the gain",
                )
            });
            if model.recurrent_init != model.init {
                scale_row(ui, model.recurrent_init, &mut model.init_scale);
            }
            row(ui, "recurrent gain", |ui| {
                ui.add(Slider::new(&mut model.recurrent_gain, 0.01..=100.0).logarithmic(true))
                    .on_hover_text(
                        "Pascanu et al. 2013: for tanh, a largest singular value of W_h below \
                         1 makes the gradient vanish across time; well above 1 it can explode",
                    )
            });
        }
    });
}
