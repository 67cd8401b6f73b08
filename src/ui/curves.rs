//! Loss and accuracy over training steps.

use egui::Vec2b;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::theme;
use crate::history::{RunHistory, decimate_min_max};

/// Points drawn per curve at most; longer runs keep each bucket's extremes.
const MAX_CURVE_POINTS: usize = 2000;

fn curve_points(history: &RunHistory, values: &[f64]) -> PlotPoints<'static> {
    decimate_min_max(values, MAX_CURVE_POINTS)
        .into_iter()
        .map(|(index, value)| [history.step_of(index) as f64, value])
        .collect()
}

/// The loss curve and the accuracy curves side by side, with linked step axes.
pub fn curves_ui(ui: &mut egui::Ui, history: Option<&RunHistory>) {
    let link = egui::Id::unique("curves-step-axis");
    let width = (ui.available_width() - ui.spacing().item_spacing.x) / 2.0;
    let height = ui.available_height();
    ui.horizontal(|ui| {
        Plot::new("loss-plot")
            .width(width)
            .height(height)
            .x_axis_label("training step")
            .y_axis_label("loss")
            .legend(Legend::default())
            .link_axis(link, Vec2b::new(true, false))
            .include_y(0.0)
            .show(ui, |plot_ui| {
                if let Some(history) = history {
                    let line = Line::new(
                        "batch loss (cross-entropy)",
                        curve_points(history, history.loss()),
                    );
                    plot_ui.line(line.color(theme::LOSS_COLOR));
                }
            });

        Plot::new("accuracy-plot")
            .width(width)
            .height(height)
            .x_axis_label("training step")
            .y_axis_label("accuracy")
            .legend(Legend::default())
            .link_axis(link, Vec2b::new(true, false))
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |plot_ui| {
                if let Some(history) = history {
                    let train =
                        Line::new("batch accuracy", curve_points(history, history.accuracy()));
                    plot_ui.line(train.color(theme::ACCURACY_COLOR));
                    let test: PlotPoints = history
                        .test_accuracy()
                        .iter()
                        .map(|&(step, acc)| [step as f64, acc])
                        .collect();
                    let test_line = Line::new("test accuracy", test);
                    plot_ui.line(test_line.color(theme::TEST_ACCURACY_COLOR).width(2.0));
                    let test: PlotPoints = history
                        .test_accuracy()
                        .iter()
                        .map(|&(step, acc)| [step as f64, acc])
                        .collect();
                    plot_ui.points(
                        Points::new("test accuracy", test)
                            .color(theme::TEST_ACCURACY_COLOR)
                            .radius(2.5),
                    );
                }
            });
    });
}
