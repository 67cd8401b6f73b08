//! Gradient clipping.

use egui::Slider;

use super::{choice, grid, help, row};
use crate::config::{Clip, TrainConfig};

pub fn clipping_ui(ui: &mut egui::Ui, train: &mut TrainConfig) {
    help(
        ui,
        "Clipping caps exploding gradients: by global norm (all gradients scaled together) or by \
         value (each element clamped). It cannot make a vanishing gradient larger: test that \
         claim here. The gradient norms before and after clipping are recorded every step.",
    );
    grid(ui, "clip-grid", |ui| {
        row(ui, "clip", |ui| {
            choice(ui, "clip", &mut train.clip, &Clip::ALL, Clip::label)
        });
        if train.clip != Clip::None {
            row(ui, "threshold", |ui| {
                ui.add(Slider::new(&mut train.clip_threshold, 1e-3..=1e3).logarithmic(true))
            });
        }
    });
}
