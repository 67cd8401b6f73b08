//! Loss and accuracy over training steps, and for recurrent nets the largest singular
//! value of the recurrent weights.

use egui::Vec2b;
use egui_plot::{HLine, Legend, Line, LineStyle, Plot, PlotPoints, Points};

use super::heatmap::step_marks;
use super::theme;
use crate::config::{Activation, Config, ModelKind, TaskKind};
use crate::history::{RunHistory, Scalar};
use crate::model::activation::max_derivative;
use crate::train::LayerMetric;

/// Points drawn per curve at most; longer runs keep each bucket's extremes.
const MAX_CURVE_POINTS: usize = 2000;

/// The finite points of a curve from [`RunHistory::curve`], on the step axis.
fn curve_points(history: &RunHistory, points: Vec<(usize, f64)>) -> PlotPoints<'static> {
    points
        .into_iter()
        .filter(|(_, value)| value.is_finite())
        .map(|(column, value)| [history.step_of(column) as f64, value])
        .collect()
}

/// The largest singular value of W_h below which a vanilla RNN's gradient must vanish
/// across time (Pascanu, Mikolov & Bengio 2013): 1/γ with γ the largest derivative of
/// its activation (1 for tanh and ReLU, 1/4 for sigmoid). Gated cells have no such
/// simple bound.
pub fn vanishing_bound(config: &Config) -> Option<f64> {
    let m = &config.model;
    (m.kind == ModelKind::Rnn).then(|| 1.0 / max_derivative(m.activation, m.leaky_slope))
}

/// The loss curve and the accuracy curves side by side, with linked step axes; for a
/// recurrent net also the largest singular value of each layer's W_h.
pub fn curves_ui(ui: &mut egui::Ui, run: Option<(&Config, &RunHistory)>) {
    let link = egui::Id::unique("curves-step-axis");
    let recurrent = run.is_some_and(|(config, _)| config.model.kind.is_recurrent());
    let plots = if recurrent { 3.0 } else { 2.0 };
    let width = (ui.available_width() - (plots - 1.0) * ui.spacing().item_spacing.x) / plots;
    let height = ui.available_height();
    let adding = run.is_some_and(|(config, _)| config.task.kind == TaskKind::Adding);
    let (loss_name, accuracy_name) = if adding {
        ("batch loss (squared error)", "batch accuracy (within 0.04)")
    } else {
        ("batch loss (cross-entropy)", "batch accuracy")
    };
    ui.horizontal(|ui| {
        Plot::new("loss-plot")
            .width(width)
            .height(height)
            .x_axis_label("training step")
            .x_grid_spacer(step_marks)
            .y_axis_label("loss")
            .legend(Legend::default())
            .link_axis(link, Vec2b::new(true, false))
            .include_y(0.0)
            .show(ui, |plot_ui| {
                if let Some((_, history)) = run {
                    let line = Line::new(
                        loss_name,
                        curve_points(history, history.curve(Scalar::Loss, MAX_CURVE_POINTS)),
                    );
                    plot_ui.line(line.color(theme::LOSS_COLOR));
                    if let Some(baseline) = history.baseline_loss() {
                        plot_ui.hline(
                            HLine::new("knowing nothing (baseline)", baseline)
                                .color(theme::BASELINE_COLOR)
                                .style(LineStyle::dashed_loose()),
                        );
                    }
                }
            });

        Plot::new("accuracy-plot")
            .width(width)
            .height(height)
            .x_axis_label("training step")
            .x_grid_spacer(step_marks)
            .y_axis_label("accuracy")
            .legend(Legend::default())
            .link_axis(link, Vec2b::new(true, false))
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |plot_ui| {
                if let Some((_, history)) = run {
                    let train = Line::new(
                        accuracy_name,
                        curve_points(history, history.curve(Scalar::Accuracy, MAX_CURVE_POINTS)),
                    );
                    plot_ui.line(train.color(theme::ACCURACY_COLOR));
                    let test: Vec<[f64; 2]> = history
                        .test_accuracy()
                        .iter()
                        .map(|&(step, acc)| [step as f64, acc])
                        .collect();
                    let test_line = Line::new("test accuracy", PlotPoints::from(test.clone()));
                    plot_ui.line(test_line.color(theme::TEST_ACCURACY_COLOR).width(2.0));
                    plot_ui.points(
                        Points::new("test accuracy", PlotPoints::from(test))
                            .color(theme::TEST_ACCURACY_COLOR)
                            .radius(2.5),
                    );
                }
            });

        if let Some((config, history)) = run.filter(|_| recurrent) {
            sigma_plot(ui, egui::vec2(width, height), link, config, history);
        }
    });
}

/// σ_max(W_h) of each recurrent layer over training, with the vanishing bound.
fn sigma_plot(
    ui: &mut egui::Ui,
    size: egui::Vec2,
    link: egui::Id,
    config: &Config,
    history: &RunHistory,
) {
    let layers = history.rows(LayerMetric::RecurrentSigma);
    let metric = LayerMetric::RecurrentSigma;
    // Room above the largest value for the legend.
    let top = (0..layers)
        .map(|row| history.summarize(metric, row, 0..history.len()).max)
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        * 1.35;
    Plot::new("sigma-plot")
        .width(size.x)
        .height(size.y)
        .x_axis_label("training step")
        .x_grid_spacer(step_marks)
        .y_axis_label("largest singular value of W_h")
        .legend(Legend::default())
        .link_axis(link, Vec2b::new(true, false))
        .include_y(0.0)
        .include_y(top)
        .show(ui, |plot_ui| {
            for layer in 0..layers {
                let points = history.layer_curve(metric, layer, MAX_CURVE_POINTS);
                let color = theme::SIGMA_COLORS[layer % theme::SIGMA_COLORS.len()];
                let name = format!("layer {} σ_max(W_h)", layer + 1);
                plot_ui.line(Line::new(name, curve_points(history, points)).color(color));
            }
            if let Some(bound) = vanishing_bound(config) {
                let activation = config.model.activation;
                let name = if activation == Activation::Tanh {
                    "below 1: gradients must vanish (tanh)".to_owned()
                } else {
                    format!(
                        "below {bound}: gradients must vanish ({})",
                        activation.label()
                    )
                };
                plot_ui.hline(
                    HLine::new(name, bound)
                        .color(theme::ERROR_COLOR)
                        .style(LineStyle::dashed_loose()),
                );
            }
        });
}
