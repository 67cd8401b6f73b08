//! The gradient-flow chart of a comparison: log10 of the metric against the layer, one
//! line per run, all at one step, so that the slope of each run's gradient across depth
//! is visible in one picture.

use egui::RichText;
use egui_plot::{Corner, Legend, Line, Plot, PlotPoints, Points};

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
    let mut summarised = Vec::new();
    let lines: Vec<(&ComparedRun<'_>, Vec<[f64; 2]>)> = runs
        .iter()
        .filter_map(|run| {
            let profile = profile_points(run, metric, step);
            match &profile {
                None => missing.push(format!("{} has not reached it", run.name)),
                Some(p) if p.points.is_empty() && log => {
                    missing.push(format!("{} has no finite non-zero value", run.name))
                }
                Some(p) if p.points.is_empty() => {
                    missing.push(format!("{} has no finite value", run.name))
                }
                Some(_) => {}
            }
            if let Some(Profile {
                summarised: Some((first, last)),
                ..
            }) = &profile
            {
                summarised.push(format!("{}'s steps {first}–{last}", run.name));
            }
            profile.map(|p| (run, p.points))
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
    // On a line of its own, so that a narrow panel does not cut the steps off.
    if !summarised.is_empty() {
        let what = if log { "the mean of log10" } else { "the mean" };
        ui.add(
            egui::Label::new(
                RichText::new(format!("drawn as {what} over {}", summarised.join(", ")))
                    .small()
                    .color(theme::MUTED_TEXT_COLOR),
            )
            .wrap(),
        );
    }

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
        .legend(
            Legend::default()
                .follow_insertion_order(true)
                .position(legend_corner(&lines)),
        )
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

/// The top corner the lines leave free: a gradient that grows toward the output ends
/// its lines top right (vanishing toward the input), so the legend goes top left; one
/// that shrinks toward the output (exploding toward the input) leaves the top right.
fn legend_corner<R>(lines: &[(R, Vec<[f64; 2]>)]) -> Corner {
    let rise: f64 = lines
        .iter()
        .filter_map(|(_, points)| Some(points.last()?[1] - points.first()?[1]))
        .filter(|r| r.is_finite())
        .sum();
    if rise > 0.0 {
        Corner::LeftTop
    } else {
        Corner::RightTop
    }
}

/// What a run's line shows at the chosen step: (layer, value) points, the value as
/// log10 on a log scale, and the steps they stand for where the step is summarised.
struct Profile {
    points: Vec<[f64; 2]>,
    /// First and last step of the summary bucket holding the step: its points are the
    /// bucket's means (of log10 on a log scale), as the heatmap's cell colours are.
    summarised: Option<(u64, u64)>,
}

/// The profile of a run at `step`, leaving out what the scale cannot show; `None` if
/// the run has no such step.
fn profile_points(run: &ComparedRun<'_>, metric: LayerMetric, step: u64) -> Option<Profile> {
    let history = run.history;
    let column = history.column_of(step)?;
    let log = metric.scale() == Scale::Log;
    let (values, summarised) = if let Some(bucket) = history.bucket_of(column) {
        let steps = (
            history.step_of(bucket.start),
            history.step_of(bucket.end - 1),
        );
        let values = (0..history.rows(metric))
            .map(|row| {
                let summary = history.summarize(metric, row, bucket.clone());
                if log {
                    summary.mean_log10
                } else {
                    summary.mean
                }
            })
            .collect();
        (values, Some(steps))
    } else {
        let values = history
            .layer_values(metric, column)
            .iter()
            .map(|&v| {
                if !log {
                    v
                } else if v > 0.0 {
                    v.log10()
                } else {
                    f64::NAN
                }
            })
            .collect::<Vec<_>>();
        (values, None)
    };
    let points = values
        .into_iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(layer, v)| [layer as f64 + 1.0, v])
        .collect();
    Some(Profile { points, summarised })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::history::{HistoryBudget, RunHistory};
    use crate::train::StepRecord;

    /// Layer l's gradient at step s is 10^−(l·s): every step of a bucket differs, so
    /// its mean of log10 is checked against the steps' own logs.
    #[test]
    fn the_legend_takes_the_top_corner_the_lines_leave_free() {
        let vanishing = vec![((), vec![[1.0, -16.0], [10.0, -8.0], [21.0, 0.0]])];
        let exploding = vec![((), vec![[1.0, 12.0], [10.0, 6.0], [21.0, 0.0]])];
        assert_eq!(legend_corner(&vanishing), Corner::LeftTop);
        assert_eq!(legend_corner(&exploding), Corner::RightTop);
        assert_eq!(legend_corner::<()>(&[]), Corner::RightTop);
    }

    #[test]
    fn a_summarised_step_draws_its_bucket_means() {
        let layers = 4;
        let mut history = RunHistory::new(layers).with_budget(HistoryBudget::new(16, 8));
        let steps = 200u64;
        for step in 1..=steps {
            let values: Vec<f64> = (0..layers)
                .map(|l| 10f64.powi(-((l as u64 * step) as i32 % 300)))
                .collect();
            assert!(history.push(&StepRecord::every_mlp_metric(step, &values)));
        }
        assert!(history.is_summarised());
        let config = Config::default();
        let run = ComparedRun {
            run_id: 1,
            name: "run",
            config: &config,
            history: &history,
            color: egui::Color32::WHITE,
            differences: String::new(),
        };
        let metric = LayerMetric::ActivationGradNorm;

        // Step 5 lies in the first bucket; its points are that bucket's mean log10.
        let Some(profile) = profile_points(&run, metric, 5) else {
            panic!("step 5 was recorded")
        };
        let Some((first, last)) = profile.summarised else {
            panic!("step 5 is summarised")
        };
        assert!(first <= 5 && 5 <= last, "bucket {first}–{last}");
        assert_eq!(first, 1);
        assert_eq!(profile.points.len(), layers);
        for (layer, point) in profile.points.iter().enumerate() {
            let logs: Vec<f64> = (first..=last)
                .map(|s| -(((layer as u64 * s) % 300) as f64))
                .collect();
            let mean = logs.iter().sum::<f64>() / logs.len() as f64;
            assert_eq!(point[0], layer as f64 + 1.0);
            assert!(
                (point[1] - mean).abs() < 1e-4,
                "layer {layer}: {} against {mean}",
                point[1]
            );
        }

        // The newest step is exact: its own values.
        let Some(profile) = profile_points(&run, metric, steps) else {
            panic!("the newest step was recorded")
        };
        assert_eq!(profile.summarised, None);
        let expected: Vec<f64> = (0..layers)
            .map(|l| -(((l as u64 * steps) % 300) as f64))
            .collect();
        let got: Vec<f64> = profile.points.iter().map(|p| p[1]).collect();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-12, "{g} against {e}");
        }
        assert!(profile_points(&run, metric, steps + 1).is_none());
    }
}
