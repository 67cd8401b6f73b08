//! Loss and accuracy of the compared runs, overlaid: one colour per run, named in the
//! legend.

use egui::Vec2b;
use egui_plot::{ColorConflictHandling, Legend, Line, Plot, PlotPoints, Points};

use super::compare::ComparedRun;
use super::heatmap::step_marks;
use crate::history::{RunHistory, Scalar};

/// Points drawn per curve at most; longer runs keep each bucket's extremes.
const MAX_CURVE_POINTS: usize = 1000;
/// How faint the batch accuracy is drawn beneath the test accuracy.
const BATCH_ACCURACY_ALPHA: f32 = 0.35;

fn curve_points(history: &RunHistory, scalar: Scalar) -> PlotPoints<'static> {
    history
        .curve(scalar, MAX_CURVE_POINTS)
        .into_iter()
        .filter(|(_, value)| value.is_finite())
        .map(|(column, value)| [history.step_of(column) as f64, value])
        .collect()
}

/// The batch loss of every run in one plot, and its accuracy in another beside it,
/// `size` points large together, on linked step axes.
pub fn compare_curves_ui(ui: &mut egui::Ui, size: egui::Vec2, runs: &[ComparedRun<'_>]) {
    let link = egui::Id::unique("compare-curves-step-axis");
    let plot_width = (size.x - ui.spacing().item_spacing.x) / 2.0;
    let height = size.y;
    Plot::new("compare-loss")
        .width(plot_width)
        .height(height)
        .x_axis_label("training step")
        .x_grid_spacer(step_marks)
        .y_axis_label("batch loss")
        .legend(Legend::default().follow_insertion_order(true))
        .link_axis(link, Vec2b::new(true, false))
        .include_y(0.0)
        .show(ui, |plot_ui| {
            for run in runs {
                let line = Line::new(run.name, curve_points(run.history, Scalar::Loss));
                plot_ui.line(line.color(run.color));
            }
        });

    Plot::new("compare-accuracy")
        .width(plot_width)
        .height(height)
        .x_axis_label("training step")
        .x_grid_spacer(step_marks)
        .y_axis_label("accuracy")
        // The faint batch line comes first; the legend takes the run's full colour.
        .legend(
            Legend::default()
                .follow_insertion_order(true)
                .color_conflict_handling(ColorConflictHandling::PickLast),
        )
        .link_axis(link, Vec2b::new(true, false))
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |plot_ui| {
            for run in runs {
                let history = run.history;
                let batch = Line::new(run.name, curve_points(history, Scalar::Accuracy));
                plot_ui.line(batch.color(run.color.gamma_multiply(BATCH_ACCURACY_ALPHA)));
                let test: Vec<[f64; 2]> = history
                    .test_accuracy()
                    .iter()
                    .map(|&(step, accuracy)| [step as f64, accuracy])
                    .collect();
                plot_ui.line(
                    Line::new(run.name, PlotPoints::from(test.clone()))
                        .color(run.color)
                        .width(2.0),
                );
                plot_ui.points(
                    Points::new(run.name, PlotPoints::from(test))
                        .color(run.color)
                        .radius(2.5),
                );
            }
        });
}
