//! What the network learns.

use egui::Slider;

use super::{choice, grid, help, row};
use crate::config::{Config, TaskKind};

pub fn task_ui(ui: &mut egui::Ui, config: &mut Config) {
    help(
        ui,
        "Digits are 1,797 real 8×8 handwritten digits (ten classes); the 2-D sets are two-class \
         toy problems drawn from the seed.",
    );
    grid(ui, "task-grid", |ui| {
        row(ui, "data", |ui| {
            choice(
                ui,
                "task-kind",
                &mut config.task.kind,
                &TaskKind::ALL,
                TaskKind::label,
            )
        });
        if config.task.kind != TaskKind::Digits {
            row(ui, "noise σ", |ui| {
                ui.add(Slider::new(&mut config.task.noise, 0.0..=1.0))
            });
        }
    });
}
