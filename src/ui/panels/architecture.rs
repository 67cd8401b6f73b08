//! The network family, depth, width and residual connections.

use egui::Slider;

use super::{choice, grid, help, row};
use crate::config::{Config, ModelKind};

pub fn architecture_ui(ui: &mut egui::Ui, config: &mut Config) {
    let model = &mut config.model;
    if model.kind.is_recurrent() {
        help(
            ui,
            "A recurrent net applies the same weights at every time step, so the gradient \
             reaching an early step has been multiplied by W_h and the activation's derivative \
             once per step in between: time is depth. LSTM and GRU add gated paths that can \
             carry it across many steps. The upper heatmap shows |∂L/∂h_t| for every time step.",
        );
    } else {
        help(
            ui,
            "Each layer multiplies the back-propagated gradient by its weights and its \
             activation's derivative, so depth compounds any shrinking or growing. Residual \
             connections add an identity path every k layers: the gradient can skip the layers \
             in between, and the heatmap's lower rows brighten.",
        );
    }
    let kinds: &[ModelKind] = if config.task.kind.is_sequence() {
        &[ModelKind::Rnn, ModelKind::Lstm, ModelKind::Gru]
    } else {
        &[ModelKind::Mlp]
    };
    grid(ui, "architecture-grid", |ui| {
        row(ui, "network", |ui| {
            choice(ui, "model-kind", &mut model.kind, kinds, ModelKind::label).on_hover_text(
                "Recurrent nets read the sequence tasks; pick one under Task to use them",
            )
        });
        if model.kind.is_recurrent() {
            row(ui, "recurrent layers", |ui| {
                ui.add(Slider::new(&mut model.depth, 1..=4))
            });
            row(ui, "hidden size", |ui| {
                ui.add(Slider::new(&mut model.width, 1..=1024).logarithmic(true))
            });
            if model.kind == ModelKind::Lstm {
                row(ui, "forget-gate bias", |ui| {
                    ui.add(Slider::new(&mut model.forget_bias, -3.0..=5.0))
                        .on_hover_text(
                            "At 1 the forget gate starts mostly open (σ(1) ≈ 0.73), so the cell \
                         keeps its memory and its gradient; at 0 it starts half closed",
                        )
                });
            }
        } else {
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
        }
    });
}
