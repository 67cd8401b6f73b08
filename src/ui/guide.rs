//! The guide of a built-in experiment: what to look at, what to expect and why. Guides
//! are short paragraphs where `**…**` marks the words to stress.

use egui::text::{LayoutJob, TextFormat};
use egui::{FontId, RichText};

use super::theme;
use crate::presets::Preset;

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
