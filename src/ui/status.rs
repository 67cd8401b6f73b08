//! The status line: step, speed and state of the run, and the latest message.

use egui::RichText;

use super::app::{LiveRun, Notice, Phase};
use super::theme;
use crate::train::RunState;

/// The selected run's step, speed and state, how many others train beside it, and the
/// latest message.
pub fn status_ui(
    ui: &mut egui::Ui,
    run: Option<&LiveRun>,
    others_running: usize,
    notice: Option<&Notice>,
) {
    ui.horizontal(|ui| {
        match run {
            None => {
                ui.label("no run yet");
            }
            Some(run) if !run.is_started() => {
                ui.label(format!("{}: not started", run.name));
            }
            Some(run) => {
                ui.label(format!(
                    "step {} / {}",
                    run.history.last_step(),
                    run.config.train.steps
                ));
                ui.separator();
                let running = run.phase == Phase::Trainer(RunState::Running);
                match run.steps_per_sec().filter(|_| running) {
                    Some(rate) => ui.label(format!("{rate:.0} steps/s")),
                    None => ui.label("– steps/s"),
                };
                if running {
                    // egui's smoothed frame interval: shows that drawing keeps up.
                    let dt = ui.input(|i| i.stable_dt);
                    if dt > 0.0 {
                        ui.separator();
                        ui.label(format!("{:.0} frames/s", 1.0 / dt))
                            .on_hover_text("how often the window redraws while training");
                    }
                }
                ui.separator();
                ui.label(run.phase.label());
                if run.config.train.clip != crate::config::Clip::None
                    && let (Some(total), Some(clipped)) = (
                        run.history.grad_norm_total().last(),
                        run.history.grad_norm_clipped().last(),
                    )
                {
                    ui.separator();
                    ui.label(format!(
                        "gradient norm {total:.2e} clipped to {clipped:.2e}"
                    ))
                    .on_hover_text(
                        "global norm of all gradients before and after clipping, this step",
                    );
                }
                if let Some((step, accuracy)) = run.history.test_accuracy().last() {
                    ui.separator();
                    ui.label(format!(
                        "test accuracy {:.1}% (step {step})",
                        accuracy * 100.0
                    ));
                }
            }
        }
        if others_running > 0 {
            ui.separator();
            ui.label(format!(
                "{others_running} other run{} training, in turn with this one",
                if others_running == 1 { "" } else { "s" }
            ))
            .on_hover_text("Running runs take one step each in turn, so each goes slower");
        }
        if let Some(notice) = notice {
            ui.separator();
            // Long messages are cut to the line; hovering shows them whole.
            let text = match notice {
                Notice::Info(text) => RichText::new(text),
                Notice::Error(text) => RichText::new(text).color(theme::ERROR_COLOR),
            };
            ui.add(egui::Label::new(text).truncate());
        }
    });
}
