//! Run length, evaluation, precision and seed.

use egui::DragValue;

use super::{grid, help, row};
use crate::config::{Config, Precision};

pub fn training_ui(ui: &mut egui::Ui, config: &mut Config) {
    help(
        ui,
        "Everything random (split, weights, batches, dropout) comes from the seed.",
    );
    let train = &mut config.train;
    grid(ui, "training-grid", |ui| {
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
