//! The gradient-flow chart of a comparison: log10 of the metric against the layer, one
//! line per run, all at one step, so that the slope of each run's gradient across depth
//! is visible in one picture.

use egui::RichText;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::compare::ComparedRun;
use super::theme;
use crate::train::rows::RowKind;
use crate::train::{LayerMetric, Scale};

/// Draws the chart `size` points large. The step is `hovered_step` while the pointer is
/// on a heatmap, otherwise the one picked with the slider (`chosen`; `None` for the
/// newest step every run has reached).
pub fn flow_chart_ui(
    ui: &mut egui::Ui,
    size: egui::Vec2,
    runs: &[ComparedRun<'_>],
    metric: LayerMetric,
    hovered_step: Option<u64>,
    chosen: &mut Option<u64>,
) {
    let reached: Vec<u64> = runs
        .iter()
        .filter(|r| !r.history.is_empty())
        .map(|r| r.history.last_step())
        .collect();
    let newest_common = reached.iter().copied().min().unwrap_or(0);
    let latest = reached.iter().copied().max().unwrap_or(0);
    let first = runs
        .iter()
        .filter(|r| !r.history.is_empty())
        .map(|r| r.history.step_of(0))
        .min()
        .unwrap_or(1);

    let top = ui.cursor().min.y;
    let step = hovered_step.unwrap_or_else(|| chosen.unwrap_or(newest_common));
    ui.horizontal(|ui| {
        let label = ui.label(RichText::new("gradient flow at step").strong());
        let mut picked = chosen
            .unwrap_or(newest_common)
            .clamp(first, latest.max(first));
        let slider = ui
            .add_enabled(
                latest > first,
                egui::Slider::new(&mut picked, first..=latest.max(first)),
            )
            .labelled_by(label.id)
            .on_hover_text("The step to draw; hovering a heatmap shows its step instead");
        if slider.changed() {
            *chosen = Some(picked);
        }
        let mut newest = chosen.is_none();
        if ui
            .checkbox(&mut newest, "newest")
            .on_hover_text("Follow the newest step every run has reached")
            .changed()
        {
            *chosen = if newest { None } else { Some(picked) };
        }
    });
    let log = metric.scale() == Scale::Log;
    let mut missing = Vec::new();
    let lines: Vec<(&ComparedRun<'_>, Vec<[f64; 2]>)> = runs
        .iter()
        .filter_map(|run| {
            let points = profile_points(run, metric, step);
            match &points {
                None => missing.push(format!("{} has not reached it", run.name)),
                Some(p) if p.is_empty() && log => {
                    missing.push(format!("{} has no finite non-zero value", run.name))
                }
                Some(p) if p.is_empty() => {
                    missing.push(format!("{} has no finite value", run.name))
                }
                Some(_) => {}
            }
            points.map(|p| (run, p))
        })
        .collect();

    // Which step the chart shows (for screen readers and the UI tests too), and the
    // runs it cannot draw there.
    let mut caption = format!("{} at step {step}", metric.label());
    if !missing.is_empty() {
        caption.push_str(&format!(" · not drawn: {}", missing.join(", ")));
    }
    ui.add(
        egui::Label::new(
            RichText::new(caption)
                .small()
                .color(theme::MUTED_TEXT_COLOR),
        )
        .truncate(),
    );

    let y_label = if log {
        format!("log10 {}", metric.symbol())
    } else {
        metric.symbol().to_owned()
    };
    let recurrent = runs.iter().any(|r| r.history.is_recurrent());
    let x_label = RowKind::for_metric(recurrent, metric).axis_title();
    // Exactly the height left, so that the panel never grows to fit.
    let height = (size.y - (ui.cursor().min.y - top)).max(60.0);
    Plot::new("gradient-flow")
        .width(size.x)
        .height(height)
        .x_axis_label(x_label)
        .y_axis_label(y_label)
        .legend(Legend::default().follow_insertion_order(true))
        .allow_scroll(false)
        .show(ui, |plot_ui| {
            for (run, points) in lines {
                plot_ui.line(
                    Line::new(run.name, PlotPoints::from(points.clone()))
                        .color(run.color)
                        .width(2.0),
                );
                plot_ui.points(
                    Points::new(run.name, PlotPoints::from(points))
                        .color(run.color)
                        .radius(2.5),
                );
            }
        });
}

/// (layer, value) of a run at `step`, the value as log10 on a log scale, leaving out
/// what such a scale cannot show; `None` if the run has no such step.
fn profile_points(run: &ComparedRun<'_>, metric: LayerMetric, step: u64) -> Option<Vec<[f64; 2]>> {
    let history = run.history;
    let column = step
        .checked_sub(history.step_of(0))
        .map(|c| c as usize)
        .filter(|&c| c < history.len())?;
    let log = metric.scale() == Scale::Log;
    // TODO(#7): a summarised step has no profile of its own; draw its bucket's means.
    let points = history
        .layer_values(metric, column)
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite() && (!log || **v > 0.0))
        .map(|(layer, &v)| [layer as f64 + 1.0, if log { v.log10() } else { v }])
        .collect();
    Some(points)
}
