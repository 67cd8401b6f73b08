//! The per-layer profile of the newest step (the "gradient flow" chart): one point per
//! layer, layers on the same vertical axis as the heatmap, so the slope of the gradient
//! across depth is one line. For the back-propagated gradient, the prediction of
//! signal-propagation theory at initialisation is drawn beside it, with the measured
//! profile of step 1 that it predicts.

use egui::Vec2b;
use egui_plot::{Corner, Legend, Line, LineStyle, Plot, PlotPoints, PlotUi, Points};

use super::theme;
use crate::config::Config;
use crate::history::RunHistory;
use crate::theory::{InitTheory, init_theory_for};
use crate::train::{LayerMetric, Scale};

/// The theory's prediction for a run of `config`, computed once when the run is shown:
/// `None` where it does not apply (batch norm, residual connections) or the data could
/// not be read (the run itself then reports that).
pub fn run_theory(config: &Config) -> Option<InitTheory> {
    init_theory_for(config).unwrap_or_else(|err| {
        log::debug!("no theory line: {err}");
        None
    })
}

/// Draws the profile of `metric` at the newest recorded step, `size` points large, and
/// for the back-propagated gradient the `theory` line at initialisation, anchored at the
/// top hidden layer's value at step 1.
pub fn profile_ui(
    ui: &mut egui::Ui,
    size: egui::Vec2,
    history: &RunHistory,
    metric: LayerMetric,
    theory: Option<&InitTheory>,
) {
    // At least one row, so that a run not yet started still has valid bounds.
    let num_layers = history.rows(metric).max(1);
    let newest = history.len().checked_sub(1);
    let values = newest.map_or(&[][..], |c| history.layer_values(metric, c));
    let log = metric.scale() == Scale::Log;
    let points = profile_points(values, log);

    let x_label = if log {
        format!("log10 {}", metric.symbol())
    } else {
        metric.symbol().to_owned()
    };
    let title = match newest {
        Some(c) => format!("step {}", history.step_of(c)),
        None => "no step yet".to_owned(),
    };
    let theory = theory
        .filter(|_| metric == LayerMetric::ActivationGradNorm)
        .and_then(|t| TheoryLine::new(history, t));

    let mut plot = Plot::new(("layer-profile", metric));
    if let Some(theory) = &theory {
        plot = plot.legend(
            Legend::default()
                .position(theory.legend_corner())
                .text_style(egui::TextStyle::Small)
                .follow_insertion_order(true),
        );
    }
    plot.width(size.x)
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
            if let Some(theory) = theory {
                // Under the newest step's line, so that where the two agree both show.
                theory.plot_ui(plot_ui, newest != Some(0));
            }
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

/// One point per layer with a value that can be drawn: [value or its log10, layer].
fn profile_points(values: &[f64], log: bool) -> Vec<[f64; 2]> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite() && (!log || **v > 0.0))
        .map(|(layer, &v)| [if log { v.log10() } else { v }, layer as f64 + 1.0])
        .collect()
}

// ---------------------------------------------------------------------------
// Theory

/// The theory's prediction anchored at step 1, with what step 1 measured.
struct TheoryLine {
    name: String,
    vanishing: bool,
    /// Predicted log10 ‖∂L/∂h_l‖ of the hidden layers.
    predicted: Vec<[f64; 2]>,
    /// Measured log10 ‖∂L/∂h_l‖ of every layer at step 1.
    measured: Vec<[f64; 2]>,
}

impl TheoryLine {
    /// `None` before step 1 is recorded, for a history that does not start at step 1
    /// (or one read from a format-2 session, which did not keep step 1 once
    /// summarised), or where the top hidden layer's gradient at step 1 is not a
    /// positive number.
    fn new(history: &RunHistory, theory: &InitTheory) -> Option<Self> {
        if history.is_empty() || history.step_of(0) != 1 {
            return None;
        }
        let first = history.first_layer_values(LayerMetric::ActivationGradNorm);
        let depth = theory.relative_grad_norm.len();
        // The hidden layers and the output layer.
        if depth == 0 || first.len() != depth + 1 {
            return None;
        }
        let top = first[depth - 1];
        if !(top.is_finite() && top > 0.0) {
            return None;
        }
        let name = match theory.chi_label() {
            Some(chi) => format!("theory at init ({chi})"),
            None => "theory at init".to_owned(),
        };
        Some(Self {
            name,
            vanishing: theory.relative_grad_norm[0] < 1.0,
            predicted: profile_points(&theory.predicted_grad_norms(top), true),
            measured: profile_points(first, true),
        })
    }

    /// The top corner the line leaves free: the left one where the gradient falls
    /// towards the input (the line climbs to the right), the right one where it grows.
    fn legend_corner(&self) -> Corner {
        if self.vanishing {
            Corner::LeftTop
        } else {
            Corner::RightTop
        }
    }

    /// The dashed prediction, and step 1's measured points unless step 1 is the newest
    /// step (drawn anyway).
    fn plot_ui(self, plot_ui: &mut PlotUi<'_>, with_step_1: bool) {
        let line = Line::new(self.name, PlotPoints::from(self.predicted))
            .color(theme::THEORY_COLOR)
            .width(theme::THEORY_LINE_WIDTH)
            .style(LineStyle::dashed_dense());
        plot_ui.line(line);
        if with_step_1 {
            let points = Points::new("step 1", PlotPoints::from(self.measured))
                .color(theme::FIRST_STEP_COLOR)
                .radius(2.5);
            plot_ui.points(points);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryBudget;
    use crate::train::StepRecord;

    /// A long run whose first steps are summarised still draws the theory against its
    /// step 1: anchored at step 1's top hidden layer and showing step 1's profile.
    #[test]
    fn the_theory_line_outlives_the_summarising_of_step_1() {
        // Three hidden layers and the output; step s's gradients are step 1's times s.
        let first = [1e-3, 1e-2, 1e-1, 1.0];
        let mut history = RunHistory::new(4).with_budget(HistoryBudget::new(16, 4));
        for step in 1..=300u64 {
            let values: Vec<f64> = first.iter().map(|v| v * step as f64).collect();
            assert!(history.push(&StepRecord::every_mlp_metric(step, &values)));
        }
        assert!(history.is_summarised());
        let theory = InitTheory {
            pre_activation_variance: vec![1.0; 3],
            chi: vec![0.25; 2],
            relative_grad_norm: vec![0.25, 0.5, 1.0],
        };
        let Some(line) = TheoryLine::new(&history, &theory) else {
            panic!("no theory line for a summarised run")
        };
        // Measured: log10 of step 1's values against layers 1 to 4.
        assert_eq!(line.measured.len(), 4);
        for (point, (layer, value)) in line.measured.iter().zip(first.iter().enumerate()) {
            assert_eq!(point[1], layer as f64 + 1.0);
            assert!((point[0] - value.log10()).abs() < 1e-12, "{point:?}");
        }
        // Predicted: step 1's top hidden layer (0.1) times the relative norms.
        let expected = [0.025f64, 0.05, 0.1].map(f64::log10);
        assert_eq!(line.predicted.len(), 3);
        for (point, e) in line.predicted.iter().zip(expected) {
            assert!((point[0] - e).abs() < 1e-12, "{point:?} against {e}");
        }
        assert!(line.vanishing);
    }
}
