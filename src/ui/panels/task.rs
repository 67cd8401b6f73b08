//! What the network learns.

use egui::Slider;

use super::{choice, grid, help, row};
use crate::config::{Config, TaskKind};

pub fn task_ui(ui: &mut egui::Ui, config: &mut Config) {
    help(
        ui,
        "Digits are 1,797 real 8×8 handwritten digits (ten classes); the 2-D sets are two-class \
         toy problems drawn from the seed. The sequence tasks are for recurrent nets: the \
         adding problem sums two marked values far apart, copy recalls symbols after a delay, \
         and sequential digits reads an image one pixel or one row per step.",
    );
    let before = (config.task.kind, config.model.kind);
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
        let task = &mut config.task;
        match task.kind {
            TaskKind::Digits => {}
            TaskKind::Adding => row(ui, "sequence length T", |ui| {
                ui.add(Slider::new(&mut task.seq_len, 10..=500).logarithmic(true))
                    .on_hover_text("The two marked values fall one in each half of the sequence")
            }),
            TaskKind::Copy => {
                row(ui, "symbols to recall", |ui| {
                    ui.add(Slider::new(&mut task.copy_length, 1..=20))
                });
                row(ui, "delay T", |ui| {
                    ui.add(Slider::new(&mut task.seq_len, 1..=500).logarithmic(true))
                        .on_hover_text("Blank steps between the symbols and the recall marker")
                });
            }
            TaskKind::SeqDigits => row(ui, "read", |ui| {
                ui.horizontal(|ui| {
                    ui.radio_value(&mut task.seq_len, 64, "a pixel per step (64 steps)");
                    ui.radio_value(&mut task.seq_len, 8, "a row per step (8 steps)");
                })
                .response
            }),
            _ => row(ui, "noise σ", |ui| {
                ui.add(Slider::new(&mut task.noise, 0.0..=1.0))
            }),
        }
    });
    if (config.task.kind, config.model.kind) != before {
        config.fit_model_to_task();
    }
}
