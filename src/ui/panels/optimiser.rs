//! The optimiser and its learning-rate schedule.

use egui::{DragValue, Slider};

use super::{choice, grid, help, row};
use crate::config::{Optimizer, Schedule, TrainConfig};

pub fn optimiser_ui(ui: &mut egui::Ui, train: &mut TrainConfig) {
    help(
        ui,
        "Adam and RMSprop divide each gradient by its recent size, so a layer whose gradient \
         vanished still takes steps: watch the update-ratio heatmap. A learning rate too high \
         explodes; momentum smooths noisy steps.",
    );
    grid(ui, "optimiser-grid", |ui| {
        row(ui, "optimiser", |ui| {
            choice(
                ui,
                "optimizer",
                &mut train.optimizer,
                &Optimizer::ALL,
                Optimizer::label,
            )
        });
        row(ui, "learning rate", |ui| {
            ui.add(Slider::new(&mut train.lr, 1e-5..=10.0).logarithmic(true))
        });
        if matches!(train.optimizer, Optimizer::Momentum | Optimizer::Nesterov) {
            row(ui, "momentum", |ui| {
                ui.add(Slider::new(&mut train.momentum, 0.0..=0.999))
            });
        }
        row(ui, "batch size", |ui| {
            ui.add(Slider::new(&mut train.batch_size, 1..=1024).logarithmic(true))
        });
        row(ui, "schedule", |ui| {
            choice(
                ui,
                "schedule",
                &mut train.schedule,
                &Schedule::ALL,
                Schedule::label,
            )
        });
        if train.schedule == Schedule::Step {
            row(ui, "decay every", |ui| {
                ui.add(
                    DragValue::new(&mut train.decay_every)
                        .range(1..=10_000_000)
                        .suffix(" steps"),
                )
            });
            row(ui, "decay factor", |ui| {
                ui.add(Slider::new(&mut train.decay_factor, 0.01..=1.0))
            });
        }
        row(ui, "warm-up", |ui| {
            ui.add(
                DragValue::new(&mut train.warmup_steps)
                    .range(0..=1_000_000)
                    .suffix(" steps"),
            )
        });
    });
}
