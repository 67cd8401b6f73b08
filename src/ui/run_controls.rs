//! Start/Pause/Resume, Step, Stop and Reset: always the same four buttons in the same
//! places, each enabled when it makes sense.

use egui::RichText;

use super::app::Phase;
use crate::train::RunState;

/// What the user asked the run to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunAction {
    Start,
    Pause,
    Resume,
    StepOnce,
    Stop,
    Reset,
}

/// The run buttons for the run's phase; returns the one pressed.
pub fn run_controls_ui(ui: &mut egui::Ui, phase: Option<&Phase>) -> Option<RunAction> {
    let running = matches!(
        phase,
        Some(Phase::Starting | Phase::Trainer(RunState::Running))
    );
    let paused = matches!(phase, Some(Phase::Trainer(RunState::Paused)));

    // The first button starts, pauses or resumes; after a run has ended it is disabled
    // until Reset, so that a new run never silently replaces the one on screen.
    let (label, action, enabled, hint) = match phase {
        None => (
            "Start",
            RunAction::Start,
            true,
            "Train the settings below (Space)",
        ),
        _ if running => (
            "Pause",
            RunAction::Pause,
            true,
            "Pause after the current step (Space)",
        ),
        _ if paused => ("Resume", RunAction::Resume, true, "Go on training (Space)"),
        _ => (
            "Start",
            RunAction::Start,
            false,
            "Reset first: this run has ended",
        ),
    };

    let mut pressed = None;
    ui.horizontal(|ui| {
        let mut button =
            |ui: &mut egui::Ui, label: &str, what: RunAction, enabled: bool, hint: &str| {
                let button = egui::Button::new(RichText::new(label).strong())
                    .min_size(egui::vec2(62.0, 0.0));
                if ui
                    .add_enabled(enabled, button)
                    .on_hover_text(hint)
                    .on_disabled_hover_text(hint)
                    .clicked()
                {
                    pressed = Some(what);
                }
            };
        button(ui, label, action, enabled, hint);
        button(
            ui,
            "Step",
            RunAction::StepOnce,
            paused,
            "Take exactly one training step (while paused)",
        );
        button(
            ui,
            "Stop",
            RunAction::Stop,
            running || paused,
            "End the run and keep what it recorded",
        );
        button(
            ui,
            "Reset",
            RunAction::Reset,
            phase.is_some(),
            "Forget the run, so that Start trains the settings below",
        );
    });
    pressed
}
