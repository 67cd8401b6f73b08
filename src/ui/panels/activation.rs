//! The hidden layers' nonlinearity.

use egui::Slider;

use super::{choice, grid, help, row};
use crate::config::{Activation, ModelConfig, ModelKind};

pub fn activation_ui(ui: &mut egui::Ui, model: &mut ModelConfig, prelu_slopes: &[f64]) {
    if matches!(model.kind, ModelKind::Lstm | ModelKind::Gru) {
        help(
            ui,
            "LSTM and GRU cells have their own nonlinearities, sigmoid gates and a tanh \
             candidate, so this setting is not used. Switch the heatmap to 'gate mean' or \
             'saturated gates' to watch the gates.",
        );
        return;
    }
    help(
        ui,
        "Sigmoid's derivative is at most 0.25 and tanh's falls to 0 in its tails: chained over \
         many layers they shrink the gradient toward layer 1. The ReLU family passes a \
         derivative of 1 where active. Switch the heatmap to 'saturated units' or 'dead units' \
         to see why.",
    );
    // PReLU's learned slopes are an MLP feature.
    let options: Vec<Activation> = Activation::ALL
        .into_iter()
        .filter(|&a| model.kind == ModelKind::Mlp || a != Activation::Prelu)
        .collect();
    grid(ui, "activation-grid", |ui| {
        row(ui, "activation", |ui| {
            choice(
                ui,
                "activation",
                &mut model.activation,
                &options,
                Activation::label,
            )
        });
        if model.activation == Activation::LeakyRelu {
            row(ui, "negative slope", |ui| {
                ui.add(Slider::new(&mut model.leaky_slope, 0.0..=1.0))
            });
        }
    });
    if model.activation == Activation::Prelu {
        if prelu_slopes.is_empty() {
            help(ui, "PReLU learns one slope per layer, starting at 0.25.");
        } else {
            let (low, high) = prelu_slopes
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| {
                    (lo.min(s), hi.max(s))
                });
            ui.label(format!("learned slopes now: {low:.3} to {high:.3}"))
                .on_hover_text(slopes_text(prelu_slopes));
        }
    }
}

fn slopes_text(slopes: &[f64]) -> String {
    slopes
        .iter()
        .enumerate()
        .map(|(i, s)| format!("layer {}: {s:.4}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}
