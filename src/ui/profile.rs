//! The per-layer profile of the newest step (the "gradient flow" chart): one point per
//! layer, layers on the same vertical axis as the heatmap, so the slope of the gradient
//! across depth is one line.

use egui::Vec2b;
use egui_plot::{Line, Plot, PlotPoints, Points};

use super::theme;
use crate::history::RunHistory;
use crate::train::{LayerMetric, Scale};

/// Draws the profile of `metric` at the newest recorded step, `size` points large.
pub fn profile_ui(ui: &mut egui::Ui, size: egui::Vec2, history: &RunHistory, metric: LayerMetric) {
    // At least one row, so that a run not yet started still has valid bounds.
    let num_layers = history.rows(metric).max(1);
    let newest = history.len().checked_sub(1);
    let values = newest.map_or(&[][..], |c| history.layer_values(metric, c));
    let log = metric.scale() == Scale::Log;
    let points: Vec<[f64; 2]> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite() && (!log || **v > 0.0))
        .map(|(layer, &v)| [if log { v.log10() } else { v }, layer as f64 + 1.0])
        .collect();

    let x_label = if log {
        format!("log10 {}", metric.symbol())
    } else {
        metric.symbol().to_owned()
    };
    let title = match newest {
        Some(c) => format!("step {}", history.step_of(c)),
        None => "no step yet".to_owned(),
    };
    Plot::new(("layer-profile", metric))
        .width(size.x)
        .height(size.y)
        .x_axis_label(x_label)
        .show_y(false)
        .allow_zoom(Vec2b::new(true, false))
        .allow_drag(Vec2b::new(true, false))
        .allow_scroll(false)
        .default_y_bounds(0.5, num_layers as f64 + 0.5)
        .set_margin_fraction(egui::vec2(0.1, 0.0))
        .y_axis_formatter(|mark, _| {
            if mark.value.fract() == 0.0 {
                format!("{:.0}", mark.value)
            } else {
                String::new()
            }
        })
        .show(ui, |plot_ui| {
            // Rows stay aligned with the heatmap's; only the value axis follows the data.
            plot_ui.set_auto_bounds(Vec2b::new(true, false));
            plot_ui.set_plot_bounds_y(0.5..=num_layers as f64 + 0.5);
            let line = Line::new(title.clone(), PlotPoints::from(points.clone()))
                .color(theme::PROFILE_COLOR);
            plot_ui.line(line);
            if points.is_empty() && newest.is_some() {
                let note = egui_plot::Text::new(
                    "note",
                    egui_plot::PlotPoint::new(0.0, num_layers as f64 / 2.0),
                    "no finite value\nat the newest step",
                );
                plot_ui.text(note.color(theme::WARNING_COLOR));
            }
            plot_ui.points(
                Points::new(title, PlotPoints::from(points))
                    .color(theme::PROFILE_COLOR)
                    .radius(3.0),
            );
        });
}
