//! The line under the heatmap that names what the evidence shows.

use egui::RichText;

use super::theme;
use crate::config::Activation;
use crate::diagnosis::{Finding, diagnose};
use crate::history::RunHistory;

pub fn diagnosis_ui(ui: &mut egui::Ui, history: &RunHistory, activation: Activation) {
    let findings = diagnose(history, activation);
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("diagnosis:").strong());
        if findings.is_empty() {
            ui.label(RichText::new("waiting for the first step").color(theme::MUTED_TEXT_COLOR));
        }
        for finding in &findings {
            let color = if finding.is_problem() {
                theme::WARNING_COLOR
            } else {
                theme::HEALTHY_COLOR
            };
            ui.label(RichText::new(finding.message()).color(color));
            let advice = finding.advice();
            if !advice.is_empty() {
                ui.label(RichText::new(format!("– {advice}")).color(theme::MUTED_TEXT_COLOR));
            }
        }
        if findings.iter().any(|f| {
            matches!(
                f,
                Finding::Vanishing { .. } | Finding::VanishingInTime { .. }
            )
        }) {
            ui.label(
                RichText::new("(threshold: 3 decades)")
                    .small()
                    .color(theme::MUTED_TEXT_COLOR),
            );
        }
    });
}
