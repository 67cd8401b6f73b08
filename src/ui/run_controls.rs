//! Start, pause, resume, step, stop and reset.

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

/// The buttons that make sense for the run's phase; returns the one pressed.
pub fn run_controls_ui(ui: &mut egui::Ui, phase: Option<&Phase>) -> Option<RunAction> {
    let mut action = None;
    ui.heading("Run");
    ui.horizontal_wrapped(|ui| {
        let mut button =
            |ui: &mut egui::Ui, label: &str, enabled: bool, hint: &str, what: RunAction| {
                if ui
                    .add_enabled(enabled, egui::Button::new(RichText::new(label).strong()))
                    .on_hover_text(hint)
                    .clicked()
                {
                    action = Some(what);
                }
            };
        match phase {
            None => button(
                ui,
                "Start",
                true,
                "Train the settings below (Space)",
                RunAction::Start,
            ),
            Some(Phase::Trainer(RunState::Paused)) => {
                button(
                    ui,
                    "Resume",
                    true,
                    "Go on training (Space)",
                    RunAction::Resume,
                );
                button(
                    ui,
                    "Step",
                    true,
                    "Take exactly one training step",
                    RunAction::StepOnce,
                );
            }
            Some(Phase::Starting | Phase::Trainer(RunState::Running)) => {
                button(
                    ui,
                    "Pause",
                    true,
                    "Pause after the current step (Space)",
                    RunAction::Pause,
                );
                button(
                    ui,
                    "Step",
                    false,
                    "Pause first to step one at a time",
                    RunAction::StepOnce,
                );
            }
            Some(_) => {}
        }
        let live = phase.is_some_and(|p| {
            matches!(
                p,
                Phase::Starting | Phase::Trainer(RunState::Running | RunState::Paused)
            )
        });
        button(
            ui,
            "Stop",
            live,
            "End the run and keep what it recorded",
            RunAction::Stop,
        );
        button(
            ui,
            "Reset",
            phase.is_some(),
            "Forget the run, so that Start trains the settings below",
            RunAction::Reset,
        );
    });
    action
}
