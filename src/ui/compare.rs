//! The comparison view: the heatmaps of the chosen runs in a grid, all on one colour
//! scale and one step axis. Zooming or panning one heatmap does the same to all, and
//! the step and layer under the pointer are marked on every one.

use std::collections::BTreeMap;

use egui::{Color32, RichText, Sense, Vec2b, vec2};
use egui_plot::{Line, Plot, PlotPoints};

use super::colorbar::colorbar_ui;
use super::heatmap::{
    HeatmapImage, HeatmapView, format_value, hover_text, row_tick, step_marks, step_tick,
};
use super::theme;
use crate::config::Config;
use crate::history::{ColorRange, RangeTracker, RunHistory};
use crate::train::rows::{RowKind, row_name};
use crate::train::{LayerMetric, Scale};

/// A run as the comparison shows it.
pub struct ComparedRun<'a> {
    pub run_id: u64,
    pub name: &'a str,
    pub config: &'a Config,
    pub history: &'a RunHistory,
    /// The run's colour in the run list, the curves and the gradient-flow chart.
    pub color: Color32,
    /// How the run differs from the session's first run, in a few words.
    pub differences: String,
}

/// A step and a row (1-based, input side first) under the pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hover {
    pub step: u64,
    pub row: usize,
}

/// The comparison's runtime state: one texture per run, the runs' colour ranges, and
/// the zoom and hover every panel shares.
#[derive(Default)]
pub struct CompareView {
    heatmaps: BTreeMap<u64, HeatmapView>,
    trackers: BTreeMap<u64, RangeTracker>,
    /// The step range every panel shows after a zoom; `None` follows the newest step.
    steps: Option<[f64; 2]>,
    hover: Option<Hover>,
    /// The step of the gradient-flow chart; `None` for the newest step that every
    /// compared run has reached.
    pub flow_step: Option<u64>,
    /// The widest layer axis of any panel last frame, which every panel takes, so that
    /// their plot areas, and so each step, line up; with the runs and metric it is for.
    axis_width: f32,
    axis_width_of: (Vec<u64>, Option<LayerMetric>),
}

/// What one panel saw of the user this frame.
#[derive(Default)]
struct PanelResponse {
    /// The step range after the user's zoom or pan, if they changed it.
    steps: Option<[f64; 2]>,
    hover: Option<Hover>,
    double_clicked: bool,
    /// The width its layer axis took.
    axis_width: f32,
}

impl CompareView {
    /// Forgets everything, e.g. when another session opens.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Drops what is kept for a run that left the session.
    pub fn forget(&mut self, run_id: u64) {
        self.heatmaps.remove(&run_id);
        self.trackers.remove(&run_id);
    }

    /// Shows every run's whole length again and keeps up with the newest step.
    pub fn follow_newest(&mut self) {
        self.steps = None;
    }

    /// The step and row under the pointer on any of the heatmaps.
    pub fn hover(&self) -> Option<Hover> {
        self.hover
    }

    /// The colour range covering every value of `metric` of every run in `runs`.
    pub fn shared_range(&mut self, runs: &[ComparedRun<'_>], metric: LayerMetric) -> ColorRange {
        runs.iter()
            .filter_map(|run| {
                self.trackers
                    .entry(run.run_id)
                    .or_default()
                    .update(run.history, metric)
            })
            .reduce(ColorRange::union)
            .unwrap_or(ColorRange::empty(metric.scale()))
    }

    /// Draws the grid of heatmaps and the shared colour bar into the space left.
    pub fn compare_ui(&mut self, ui: &mut egui::Ui, runs: &[ComparedRun<'_>], metric: LayerMetric) {
        if runs.is_empty() {
            ui.centered_and_justified(|ui| {
                ui.label(
                    RichText::new(
                        "Tick the runs to compare in the run list above: their heatmaps appear \
                         here side by side, on one colour scale.",
                    )
                    .size(16.0)
                    .color(theme::MUTED_TEXT_COLOR),
                );
            });
            return;
        }

        let range = self.shared_range(runs, metric);
        let size = ui.available_size();
        let spacing = ui.spacing().item_spacing.x;
        let grid_width =
            (size.x - theme::COLOR_BAR_WIDTH - theme::COLOR_BAR_GAP - spacing).max(200.0);
        let title = format!(
            "{}\nshared scale,\n{} run{}",
            metric.symbol(),
            runs.len(),
            if runs.len() == 1 { "" } else { "s" }
        );
        ui.horizontal_top(|ui| {
            let grid = egui::Layout::top_down(egui::Align::Min);
            ui.allocate_ui_with_layout(vec2(grid_width, size.y), grid, |ui| {
                self.grid_ui(ui, runs, metric, range, vec2(grid_width, size.y));
            });
            ui.add_space(theme::COLOR_BAR_GAP);
            colorbar_ui(ui, size.y, Some(range), &title);
        });
    }

    fn grid_ui(
        &mut self,
        ui: &mut egui::Ui,
        runs: &[ComparedRun<'_>],
        metric: LayerMetric,
        range: ColorRange,
        size: egui::Vec2,
    ) {
        // Two runs one above the other keep their steps wide; more go two abreast, so
        // that each stays tall enough to read its layers.
        let columns = if runs.len() <= 2 { 1 } else { 2 };
        let rows = runs.len().div_ceil(columns);
        let spacing = ui.spacing().item_spacing;
        let title_height = 2.0 * (ui.text_style_height(&egui::TextStyle::Body) + spacing.y);
        let cell_width = (size.x - spacing.x * (columns - 1) as f32) / columns as f32;
        let cell_height = ((size.y - spacing.y * rows as f32) / rows as f32 - title_height)
            .max(theme::COMPARE_MIN_HEATMAP_HEIGHT);
        // Room on the right for the last step label, which is centred on the edge.
        let plot_size = vec2(cell_width - theme::STEP_LABEL_OVERHANG, cell_height);

        let newest = runs
            .iter()
            .map(|r| r.history.last_step())
            .max()
            .unwrap_or(0)
            .max(1);
        let target = self.steps.unwrap_or([0.5, newest as f64 + 0.5]);
        let mut seen = PanelResponse::default();
        // Another set of runs may need a narrower axis: measure again.
        let axis_width_of = (runs.iter().map(|r| r.run_id).collect(), Some(metric));
        if self.axis_width_of != axis_width_of {
            self.axis_width_of = axis_width_of;
            self.axis_width = 0.0;
        }
        let axes = Axes {
            target,
            width: self.axis_width,
        };

        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for chunk in runs.chunks(columns) {
                    ui.horizontal_top(|ui| {
                        for run in chunk {
                            ui.push_id(run.run_id, |ui| {
                                ui.vertical(|ui| {
                                    ui.set_width(cell_width);
                                    let heatmap = self
                                        .heatmaps
                                        .entry(run.run_id)
                                        .or_insert_with(|| HeatmapView::new("compare-heatmap"));
                                    let panel = panel_ui(
                                        ui, heatmap, run, metric, range, plot_size, axes,
                                        self.hover,
                                    );
                                    seen.axis_width = seen.axis_width.max(panel.axis_width);
                                    seen.steps = seen.steps.or(panel.steps);
                                    seen.hover = seen.hover.or(panel.hover);
                                    seen.double_clicked |= panel.double_clicked;
                                });
                            });
                        }
                    });
                }
            });

        // What one panel did this frame, every panel shows from the next.
        let before = (self.steps, self.hover, self.axis_width);
        self.axis_width = self.axis_width.max(seen.axis_width);
        if seen.double_clicked {
            self.steps = None;
        } else if seen.steps.is_some() {
            self.steps = seen.steps;
        }
        self.hover = seen.hover;
        if (self.steps, self.hover, self.axis_width) != before {
            ui.ctx().request_repaint();
        }
    }
}

/// The step axis every panel shows and the width of the layer axis beside it.
#[derive(Clone, Copy)]
struct Axes {
    /// The step range on screen.
    target: [f64; 2],
    /// The least width of the layer axis.
    width: f32,
}

/// One run's panel: its name and difference, the value at the hovered cell, and the
/// heatmap on the shared scale and step axis.
#[allow(clippy::too_many_arguments)]
fn panel_ui(
    ui: &mut egui::Ui,
    heatmap: &mut HeatmapView,
    run: &ComparedRun<'_>,
    metric: LayerMetric,
    range: ColorRange,
    plot_size: egui::Vec2,
    Axes { target, width }: Axes,
    hover: Option<Hover>,
) -> PanelResponse {
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(
            vec2(theme::RUN_SWATCH_SIZE, theme::RUN_SWATCH_SIZE),
            Sense::hover(),
        );
        ui.painter().rect_filled(rect, 2.0, run.color);
        ui.label(RichText::new(run.name).strong());
        ui.add(
            egui::Label::new(RichText::new(&run.differences).color(theme::MUTED_TEXT_COLOR))
                .truncate(),
        );
    });
    ui.label(
        RichText::new(hover.map_or_else(
            || "hover a heatmap to read every run at that step and layer".to_owned(),
            |h| value_at(run, metric, h),
        ))
        .small()
        .color(theme::MUTED_TEXT_COLOR),
    );

    heatmap.share_range(Some(range));
    let Some(HeatmapImage {
        image,
        first_x,
        steps_per_column,
        num_rows,
    }) = heatmap.plot_image(ui.ctx(), run.run_id, run.history, metric)
    else {
        ui.allocate_ui(plot_size, |ui| {
            ui.label(
                RichText::new(format!("{} does not record {}", run.name, metric.label()))
                    .color(theme::MUTED_TEXT_COLOR),
            );
        });
        return PanelResponse::default();
    };
    let rows = num_rows as f64;
    let rows_kind = RowKind::of(run.config, metric);

    let left = ui.cursor().left();
    let plot = Plot::new("compare-heatmap")
        .y_axis_min_width(width)
        .width(plot_size.x)
        .height(plot_size.y)
        .x_axis_label("training step")
        .y_axis_label(rows_kind.axis_title())
        .allow_zoom(Vec2b::new(true, false))
        .allow_drag(Vec2b::new(true, false))
        .allow_scroll(Vec2b::new(true, false))
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_grid(false)
        .set_margin_fraction(vec2(0.0, 0.0))
        .y_axis_formatter(move |mark, _| row_tick(mark.value, num_rows, rows_kind))
        .x_axis_formatter(|mark, _| step_tick(mark.value))
        .x_grid_spacer(step_marks)
        .show_crosshair(false)
        .label_formatter(|_| None);
    let response = plot.show(ui, |plot_ui| {
        plot_ui.image(image);
        plot_ui.set_plot_bounds_x(target[0]..=target[1]);
        plot_ui.set_plot_bounds_y(0.5..=rows + 0.5);
        if let Some(hover) = hover {
            mark_ui(plot_ui, hover, rows, target);
        }
    });

    let description = format!(
        "heatmap of {}: {} per layer and step, steps {:.0} to {:.0} on screen",
        run.name,
        metric.label(),
        target[0].ceil(),
        target[1].floor()
    );
    response
        .response
        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &description));

    let bounds = response.transform.bounds();
    let shown = [bounds.min()[0], bounds.max()[0]];
    let tolerance = 1e-6 * (target[1] - target[0]).abs().max(1.0);
    let moved =
        (shown[0] - target[0]).abs() > tolerance || (shown[1] - target[1]).abs() > tolerance;
    let mut seen = PanelResponse {
        steps: moved.then_some(shown),
        hover: None,
        double_clicked: response.response.double_clicked(),
        axis_width: response.transform.frame().left() - left,
    };

    if let Some(pointer) = response.response.hover_pos() {
        let value = response.transform.value_from_position(pointer);
        let row = value.y.round();
        let column = (value.x - first_x).floor();
        if row >= 1.0 && row <= rows && column >= 0.0 && (column as usize) < run.history.len() {
            let column = column as usize;
            seen.hover = Some(Hover {
                step: run.history.step_of(column),
                row: row as usize,
            });
            let name = row_name(run.config, metric, row as usize - 1);
            let text = hover_text(
                run.history,
                metric,
                &name,
                (row as usize, column),
                steps_per_column,
            );
            response.response.on_hover_text_at_pointer(text);
        }
    }
    seen
}

/// A cross through the hovered step and row; `steps` is the step range on screen.
fn mark_ui(plot_ui: &mut egui_plot::PlotUi<'_>, hover: Hover, rows: f64, steps: [f64; 2]) {
    let x = hover.step as f64;
    let y = hover.row as f64;
    let stroke = egui::Stroke::new(1.0, theme::HOVER_MARK_COLOR);
    plot_ui.line(
        Line::new(
            "hovered step",
            PlotPoints::from(vec![[x, 0.5], [x, rows + 0.5]]),
        )
        .stroke(stroke)
        .allow_hover(false),
    );
    if y <= rows {
        plot_ui.line(
            Line::new(
                "hovered row",
                PlotPoints::from(vec![[steps[0], y], [steps[1], y]]),
            )
            .stroke(stroke)
            .allow_hover(false),
        );
    }
}

/// The value of `metric` at the hovered step and row of a run, in a line.
fn value_at(run: &ComparedRun<'_>, metric: LayerMetric, hover: Hover) -> String {
    let history = run.history;
    let Some(column) = history.column_of(hover.step) else {
        return format!("step {}: not reached", hover.step);
    };
    // A summarised step: the bucket it is in.
    if let Some(bucket) = history.bucket_of(column)
        && let Some(row) = hover
            .row
            .checked_sub(1)
            .filter(|&r| r < history.rows(metric))
    {
        let summary = history.summarize(metric, row, bucket.clone());
        // The mean a log scale colours and the flow chart draws: that of log10.
        let (what, mean) = if metric.scale() == Scale::Log {
            ("geometric mean", 10f64.powf(summary.mean_log10))
        } else {
            ("mean", summary.mean)
        };
        return format!(
            "{}, steps {}–{} (summarised): min {}, {what} {}, max {}",
            row_name(run.config, metric, row),
            history.step_of(bucket.start),
            history.step_of(bucket.end - 1),
            format_value(summary.min),
            format_value(mean),
            format_value(summary.max)
        );
    }
    let values = history.layer_values(metric, column);
    match hover.row.checked_sub(1).and_then(|index| values.get(index)) {
        Some(&value) => format!(
            "{}, step {}: {}",
            row_name(run.config, metric, hover.row - 1),
            hover.step,
            format_value(value)
        ),
        None => format!("step {}: this run has no row {}", hover.step, hover.row),
    }
}
