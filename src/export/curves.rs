//! Curve figures: one run's batch loss above its batch and test accuracy, or the batch
//! loss of several runs overlaid. Long runs are thinned without losing their extremes;
//! values that cannot be drawn (NaN, infinities) are counted in the legend, and the
//! step where a run diverged is marked.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::DrawResult;
use super::layout::{
    TickedAxis, decimals_for, draw_header, first_fitting, integer_ticks, max_ticks, nice_ticks,
    step_span,
};
use super::legend::{LegendEntry, Swatch, draw_legend};
use super::style::{
    AXIS_DESC_PX, BATCH_ACCURACY, DIVERGED, FRAME, LEGEND_PX, LINE_PX, LOSS, MARGIN_PX, MARKER_PX,
    Style, TEST_ACCURACY, TEXT, THIN_LINE_PX, TICK_LABEL_PX, TICK_MARK_PX, TICK_SPACING_PX,
    X_LABEL_AREA_PX, Y_LABEL_AREA_PX, decade_label, run_color,
};
use crate::history::{RunHistory, Scalar, decimate_min_max, split_at_gaps};
use crate::session::SavedRun;

/// Width of the legend's column beside the plots.
const LEGEND_COLUMN_PX: f64 = 230.0;
/// Share of the plots' height that the loss takes above the accuracy.
const LOSS_SHARE: f64 = 0.55;
/// A loss whose largest and smallest value are further apart than this is drawn on a
/// log scale.
const LOG_LOSS_RATIO: f64 = 100.0;
/// Points of the loss curve read to find its range (the curve keeps each stretch's
/// extremes, so any number finds the same range).
const MAX_RANGE_POINTS: usize = 4096;
const GRID: RGBColor = RGBColor(228, 228, 228);

pub(super) fn draw_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    style: Style,
    history: &RunHistory,
    caption: &str,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let body = draw_header(root, style, "Loss and accuracy", &[caption.to_owned()])?;
    let (plots, legend) = split_off_legend(&body, style);
    let height = plots.dim_in_pixel().1;
    let (top, bottom) = plots.split_vertically((f64::from(height) * LOSS_SHARE) as i32);

    let line = LossLine {
        label: "batch loss".to_owned(),
        color: LOSS,
        marker_color: DIVERGED,
        history,
        divergence: Divergence::find(history),
    };
    let steps = step_span([history]);
    draw_loss_panel(&top, style, std::slice::from_ref(&line), steps)?;
    draw_accuracy_panel(&bottom, style, history, steps, line.divergence)?;

    let mut entries = vec![
        line.legend_entry(),
        LegendEntry {
            swatch: Swatch::Thin(BATCH_ACCURACY),
            text: "batch accuracy".to_owned(),
        },
    ];
    entries.push(LegendEntry {
        swatch: Swatch::Points(TEST_ACCURACY),
        text: if history.test_accuracy().is_empty() {
            "test accuracy (not measured)".to_owned()
        } else {
            "test accuracy".to_owned()
        },
    });
    entries.extend(line.divergence.map(|d| LegendEntry {
        swatch: Swatch::Dashed(DIVERGED),
        text: d.describe(),
    }));
    draw_legend(&legend, style, &entries)
}

pub(super) fn draw_loss_comparison<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    style: Style,
    runs: &[SavedRun],
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let title = format!("Batch loss of {} runs", runs.len());
    let caption: Vec<String> = runs
        .iter()
        .map(|run| format!("{}: {}", run.name, run.config.summary()))
        .collect();
    let body = draw_header(root, style, &title, &caption)?;
    let (plot, legend) = split_off_legend(&body, style);

    let lines: Vec<LossLine> = runs
        .iter()
        .enumerate()
        .map(|(index, run)| LossLine {
            label: run.name.clone(),
            color: run_color(index),
            marker_color: run_color(index),
            history: &run.history,
            divergence: Divergence::find(&run.history),
        })
        .collect();
    draw_loss_panel(
        &plot,
        style,
        &lines,
        step_span(runs.iter().map(|r| &r.history)),
    )?;

    let entries: Vec<LegendEntry> = lines
        .iter()
        .map(|line| {
            let mut entry = line.legend_entry();
            if let Some(divergence) = line.divergence {
                entry.text = format!("{}, {}", entry.text, divergence.describe());
            }
            entry
        })
        .collect();
    draw_legend(&legend, style, &entries)
}

fn split_off_legend<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    style: Style,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let width = body.dim_in_pixel().0;
    let legend_width = style.upx(LEGEND_COLUMN_PX).min(width * 3 / 10);
    body.split_horizontally(width - legend_width)
}

// ---------------------------------------------------------------------------
// Divergence

/// Where a run's loss or gradient first stopped being a finite number.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Divergence {
    step: u64,
    reason: &'static str,
}

impl Divergence {
    /// For a divergence among summarised steps, the first step of its summary bucket.
    fn find(history: &RunHistory) -> Option<Self> {
        let loss = history
            .first_nonfinite(Scalar::Loss)
            .map(|(column, value)| {
                let reason = if value.is_nan() {
                    "loss is NaN"
                } else {
                    "loss is infinite"
                };
                (column, reason)
            });
        let grad = history
            .first_nonfinite(Scalar::GradNormTotal)
            .map(|(column, value)| {
                let reason = if value.is_nan() {
                    "gradient norm is NaN"
                } else {
                    "gradient norm is infinite"
                };
                (column, reason)
            });
        // The earlier of the two; at the same step the loss is named first.
        let (column, reason) = match (loss, grad) {
            (Some(l), Some(g)) => {
                if g.0 < l.0 {
                    g
                } else {
                    l
                }
            }
            (l, g) => l.or(g)?,
        };
        Some(Self {
            step: history.step_of(column),
            reason,
        })
    }

    fn describe(self) -> String {
        format!("diverged at step {}: {}", self.step, self.reason)
    }
}

// ---------------------------------------------------------------------------
// Panels

/// One loss curve and how to mark it.
struct LossLine<'a> {
    label: String,
    color: RGBColor,
    marker_color: RGBColor,
    history: &'a RunHistory,
    divergence: Option<Divergence>,
}

impl LossLine<'_> {
    fn legend_entry(&self) -> LegendEntry {
        let hidden = self
            .history
            .loss()
            .iter()
            .filter(|v| !v.is_finite())
            .count();
        let text = match hidden {
            0 => self.label.clone(),
            1 => format!("{} (1 non-finite value not drawn)", self.label),
            n => format!("{} ({n} non-finite values not drawn)", self.label),
        };
        LegendEntry {
            swatch: Swatch::Line(self.color),
            text,
        }
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedAxis, TickedAxis>>;

/// How the loss axis maps values: as they are, or by log10 when they span decades.
#[derive(Clone, Copy, Debug, PartialEq)]
enum LossAxis {
    Linear,
    Log,
}

impl LossAxis {
    fn for_values(values: impl Iterator<Item = f64>) -> (Self, Range<f64>) {
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for value in values.filter(|v| v.is_finite()) {
            low = low.min(value);
            high = high.max(value);
        }
        if low > high {
            return (Self::Linear, 0.0..1.0);
        }
        if low > 0.0 && high / low > LOG_LOSS_RATIO {
            let (low, high) = (low.log10().floor(), high.log10().ceil());
            return (Self::Log, low..high.max(low + 1.0));
        }
        let low = low.min(0.0);
        let high = if high > low {
            high + 0.05 * (high - low)
        } else {
            low + 1.0
        };
        (Self::Linear, low..high)
    }

    fn map(self, value: f64) -> f64 {
        match self {
            Self::Linear => value,
            Self::Log => value.log10(),
        }
    }
}

fn draw_loss_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    style: Style,
    lines: &[LossLine],
    steps: (u64, u64),
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    // The curve holds every stretch's extremes, so its range is the loss's.
    let all_losses = lines
        .iter()
        .flat_map(|l| l.history.curve(Scalar::Loss, MAX_RANGE_POINTS))
        .map(|(_, loss)| loss);
    let (axis, y_range) = LossAxis::for_values(all_losses);
    let height = area.dim_in_pixel().1;
    let y_ticks = match axis {
        LossAxis::Log => integer_ticks(y_range.start, y_range.end, max_ticks(height, style, 40.0)),
        LossAxis::Linear => nice_ticks(y_range.clone(), max_ticks(height, style, 40.0)),
    };
    let y_desc: &[&str] = match axis {
        LossAxis::Linear => &["batch loss", "loss"],
        LossAxis::Log => &["batch loss (log scale)", "loss (log scale)", "loss (log)"],
    };
    let decimals = decimals_for(&y_ticks);
    let label = move |y: &f64| match axis {
        LossAxis::Linear => format!("{y:.decimals$}"),
        LossAxis::Log => decade_label(*y),
    };
    let mut chart = build_chart(area, style, steps, y_range.clone(), y_ticks, y_desc, &label)?;

    let max_points = 2 * chart.plotting_area().dim_in_pixel().0 as usize;
    for line in lines {
        let history = line.history;
        for segment in split_at_gaps(history.curve(Scalar::Loss, max_points)) {
            let points = segment
                .into_iter()
                .map(|(column, value)| (history.step_of(column) as f64, axis.map(value)));
            draw_line(&mut chart, style, points.collect(), line.color, LINE_PX)?;
        }
    }
    for (row, line) in lines.iter().enumerate() {
        if let Some(divergence) = line.divergence {
            draw_divergence(
                &mut chart,
                style,
                divergence,
                line.marker_color,
                &y_range,
                row,
            )?;
        }
    }
    Ok(())
}

fn draw_accuracy_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    style: Style,
    history: &RunHistory,
    steps: (u64, u64),
    divergence: Option<Divergence>,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let y_ticks = if max_ticks(area.dim_in_pixel().1, style, 40.0) >= 5 {
        vec![0.0, 0.25, 0.5, 0.75, 1.0]
    } else {
        vec![0.0, 0.5, 1.0]
    };
    let label = |y: &f64| format!("{:.0}%", y * 100.0);
    let y_desc = &["accuracy"];
    let mut chart = build_chart(area, style, steps, 0.0..1.0, y_ticks, y_desc, &label)?;

    let max_points = 2 * chart.plotting_area().dim_in_pixel().0 as usize;
    for segment in split_at_gaps(history.curve(Scalar::Accuracy, max_points)) {
        let points = segment
            .into_iter()
            .map(|(column, value)| (history.step_of(column) as f64, value));
        draw_line(
            &mut chart,
            style,
            points.collect(),
            BATCH_ACCURACY,
            THIN_LINE_PX,
        )?;
    }

    let tests = history.test_accuracy();
    let values: Vec<f64> = tests.iter().map(|&(_, v)| v).collect();
    let points: Vec<(f64, f64)> = decimate_min_max(&values, max_points)
        .into_iter()
        .map(|(index, value)| (tests[index].0 as f64, value))
        .collect();
    draw_line(&mut chart, style, points.clone(), TEST_ACCURACY, LINE_PX)?;
    if points.len() <= 200 {
        let marker = TEST_ACCURACY.filled();
        let radius = style.px(MARKER_PX);
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, radius, marker)))?;
    }

    if let Some(divergence) = divergence {
        draw_divergence_line(&mut chart, style, divergence.step, DIVERGED, &(0.0..1.0))?;
    }
    Ok(())
}

fn build_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    style: Style,
    steps: (u64, u64),
    y_range: Range<f64>,
    y_ticks: Vec<f64>,
    y_desc: &[&str],
    y_label: &dyn Fn(&f64) -> String,
) -> DrawResult<Chart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let (first, last) = (steps.0 as f64, steps.1 as f64);
    let x_range = if last > first {
        first..last
    } else {
        first - 0.5..first + 0.5
    };
    let (width, height) = area.dim_in_pixel();
    let x_ticks = integer_ticks(first, last, max_ticks(width, style, TICK_SPACING_PX));
    let desc_style = style.text(AXIS_DESC_PX, TEXT);
    let room = height.saturating_sub(style.upx(X_LABEL_AREA_PX + 16.0));
    let y_desc = first_fitting(area, y_desc, &desc_style, room)?;
    let mut chart = ChartBuilder::on(area)
        .margin(style.px(8.0))
        .margin_right(style.px(MARGIN_PX))
        .x_label_area_size(style.px(X_LABEL_AREA_PX))
        .y_label_area_size(style.px(Y_LABEL_AREA_PX))
        .build_cartesian_2d(
            TickedAxis::new(x_range, x_ticks),
            TickedAxis::new(y_range, y_ticks),
        )?;
    chart
        .configure_mesh()
        .bold_line_style(GRID.stroke_width(style.stroke(1.0)))
        .light_line_style(TRANSPARENT)
        .x_desc("training step")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(y_label)
        .label_style(style.text(TICK_LABEL_PX, TEXT))
        .axis_desc_style(style.text(AXIS_DESC_PX, TEXT))
        .axis_style(FRAME.stroke_width(style.stroke(1.0)))
        .set_all_tick_mark_size(style.px(TICK_MARK_PX))
        .draw()?;
    Ok(chart)
}

fn draw_line<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    style: Style,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    width_px: f64,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let stroke = color.stroke_width(style.stroke(width_px));
    if let [point] = points[..] {
        // A lone finite value between NaNs has no neighbour to join.
        chart.draw_series([Circle::new(point, style.px(MARKER_PX), color.filled())])?;
    } else if style.raster() && stroke.stroke_width > 1 {
        let segments = points
            .windows(2)
            .map(|w| PathElement::new(vec![w[0], w[1]], stroke));
        chart.draw_series(segments)?;
        if stroke.stroke_width > 2 {
            // Round joints, which separate segments do not have.
            let radius = stroke.stroke_width as i32 / 2;
            chart.draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, radius, color.filled())),
            )?;
        }
    } else if points.len() > 1 {
        chart.draw_series(LineSeries::new(points, stroke))?;
    }
    Ok(())
}

fn draw_divergence<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    style: Style,
    divergence: Divergence,
    color: RGBColor,
    y_range: &Range<f64>,
    row: usize,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    draw_divergence_line(chart, style, divergence.step, color, y_range)?;

    // Beside the line at the top, on the side where there is more room.
    let x_range = chart.x_range();
    let x = divergence.step as f64;
    let left_half = x - x_range.start < (x_range.end - x_range.start) / 2.0;
    let (anchor, dx) = if left_half {
        (HPos::Left, style.px(6.0))
    } else {
        (HPos::Right, -style.px(6.0))
    };
    let text_style = style
        .text(LEGEND_PX, color)
        .pos(Pos::new(anchor, VPos::Top));
    let dy = style.px(6.0) + row as i32 * style.px(LEGEND_PX * 1.4);
    let label = format!("diverged at step {}", divergence.step);
    chart.draw_series([
        EmptyElement::at((x, y_range.end)) + Text::new(label, (dx, dy), text_style)
    ])?;
    Ok(())
}

fn draw_divergence_line<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    style: Style,
    step: u64,
    color: RGBColor,
    y_range: &Range<f64>,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let x = step as f64;
    chart.draw_series(DashedLineSeries::new(
        [(x, y_range.start), (x, y_range.end)],
        style.px(6.0),
        style.px(4.0),
        color.stroke_width(style.stroke(LINE_PX)),
    ))?;
    Ok(())
}

/// The finite stretches of `values`, thinned to about `max_points` points in all, as the
/// curves of a history are.
#[cfg(test)]
fn finite_segments(values: &[f64], max_points: usize) -> Vec<Vec<(usize, f64)>> {
    split_at_gaps(crate::history::decimate_with_gaps(values, max_points))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_break_at_non_finite_values_and_keep_extremes() {
        let mut values: Vec<f64> = (0..1000).map(|i| f64::from(i % 10)).collect();
        values[500] = f64::NAN;
        values[501] = f64::INFINITY;
        values[700] = 1e9;
        let segments = finite_segments(&values, 100);
        assert_eq!(segments.len(), 2);
        assert!(segments[0].iter().all(|&(i, _)| i < 500));
        assert!(segments[1].iter().all(|&(i, _)| i > 501));
        assert!(segments[1].contains(&(700, 1e9)));
        let total: usize = segments.iter().map(Vec::len).sum();
        assert!(total <= 110, "{total} points");
    }

    #[test]
    fn divergence_is_the_first_non_finite_loss_or_gradient() {
        use crate::train::StepRecord;
        let mut history = RunHistory::new(1);
        for (step, loss, grad) in [(1, 1.0, 1.0), (2, 2.0, f64::INFINITY), (3, f64::NAN, 1.0)] {
            history.push(&StepRecord {
                step,
                loss,
                grad_norm_total: grad,
                weight_grad_norm: vec![1.0],
                activation_grad_norm: vec![1.0],
                update_ratio: vec![1.0],
                saturated_fraction: vec![0.0],
                dead_fraction: vec![0.0],
                activation_mean: vec![0.0],
                activation_std: vec![1.0],
                ..StepRecord::default()
            });
        }
        let divergence = Divergence::find(&history).expect("diverged");
        assert_eq!(divergence.step, 2);
        assert_eq!(
            divergence.describe(),
            "diverged at step 2: gradient norm is infinite"
        );
    }

    #[test]
    fn loss_axis_turns_logarithmic_over_decades() {
        let (axis, range) = LossAxis::for_values([2.3, 0.5, f64::NAN].into_iter());
        assert_eq!(axis, LossAxis::Linear);
        assert_eq!(range.start, 0.0);
        assert!(range.end > 2.3);
        let (axis, range) = LossAxis::for_values([1e6, 0.5].into_iter());
        assert_eq!(axis, LossAxis::Log);
        assert_eq!(range, -1.0..6.0);
    }
}
