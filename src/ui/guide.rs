//! The guide of a built-in experiment: what to look at, what to expect and why. Guides
//! are short paragraphs where `**…**` marks the words to stress.

use egui::text::{LayoutJob, TextFormat};
use egui::{FontId, RichText};

use super::theme;
use crate::config::Config;
use crate::presets::Preset;

/// Whether a run of `run` trains the experiment `preset` describes: the same settings
/// but perhaps for more or fewer steps, which changes what there is to see, not what
/// it shows.
pub fn same_experiment(run: &Config, preset: &Config) -> bool {
    if run.train.steps == preset.train.steps {
        return run == preset;
    }
    let mut run = run.clone();
    run.train.steps = preset.train.steps;
    &run == preset
}

/// Draws the guide of `preset` as a collapsible section, open at first;
/// `shows_other_run` says that the run on screen was trained with other settings.
pub fn guide_ui(ui: &mut egui::Ui, preset: &Preset, shows_other_run: bool) {
    egui::CollapsingHeader::new(RichText::new(format!("Guide: {}", preset.name)).strong())
        .id_salt("preset-guide")
        .default_open(true)
        .show(ui, |ui| {
            if shows_other_run {
                ui.label(
                    RichText::new("The run on screen has other settings: Reset, then Start, to run this experiment.")
                        .color(theme::WARNING_COLOR),
                );
            }
            for paragraph in preset
                .guide
                .split("\n\n")
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                ui.label(styled(ui, paragraph));
            }
        });
}

/// A paragraph with its `**stressed**` parts in the strong text colour.
fn styled(ui: &egui::Ui, paragraph: &str) -> LayoutJob {
    let font = FontId::proportional(13.0);
    let normal = TextFormat::simple(font.clone(), theme::GUIDE_TEXT_COLOR);
    let strong = TextFormat::simple(font, ui.visuals().strong_text_color());
    let mut job = LayoutJob::default();
    for (index, part) in paragraph.split("**").enumerate() {
        let format = if index % 2 == 1 {
            strong.clone()
        } else {
            normal.clone()
        };
        job.append(&part.replace('\n', " "), 0.0, format);
    }
    job.wrap.max_width = ui.available_width();
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_longer_run_is_the_same_experiment_and_a_deeper_one_is_not() {
        let preset = Config::default();
        let mut longer = preset.clone();
        longer.train.steps = preset.train.steps * 4;
        assert!(same_experiment(&preset, &preset));
        assert!(same_experiment(&longer, &preset));
        let mut deeper = preset.clone();
        deeper.model.depth += 1;
        assert!(!same_experiment(&deeper, &preset));
        let mut deeper_and_longer = deeper;
        deeper_and_longer.train.steps = longer.train.steps;
        assert!(!same_experiment(&deeper_and_longer, &preset));
    }
}
