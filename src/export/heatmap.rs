//! Heatmap figures: one run's metric per layer and step, or several runs side by side
//! on one shared colour scale; each with a colour bar and a legend of the values that
//! have no place on the scale (NaN, infinities, exact zeros on a log scale).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::DrawResult;
use super::layout::{
    TickedAxis, draw_header, first_fitting, fit, integer_ticks, line_height, max_ticks, step_span,
};
use super::style::{
    AXIS_DESC_PX, CAPTION_TEXT, COLOUR_BAR_COLUMN_PX, FRAME, LEGEND_PX, MARGIN_PX, PANEL_TITLE_PX,
    Style, TEXT, TICK_LABEL_PX, TICK_MARK_PX, TICK_SPACING_PX, X_LABEL_AREA_PX, Y_LABEL_AREA_PX,
    ascii, linear_label, rgb,
};
use crate::colormap::{INF_RGB, NAN_RGB, ZERO_RGB, cell_rgb, gradient_rgb};
use crate::history::{ColorRange, RunHistory, shared_color_range};
use crate::session::SavedRun;
use crate::train::rows::RowKind;
use crate::train::{LayerMetric, Scale};

/// Tick labels of a layer axis need less room than those of a step axis.
const LAYER_TICK_SPACING_PX: f64 = 32.0;
/// Bands the colour bar's gradient is drawn in.
const COLOUR_BAR_BANDS: u32 = 200;

pub(super) fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    style: Style,
    history: &RunHistory,
    metric: LayerMetric,
    caption: &str,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let rows = RowKind::for_metric(history.is_recurrent(), metric).short_title();
    let title = format!(
        "{} per {rows} and training step",
        capitalised(metric.label_ascii())
    );
    let body = draw_header(root, style, &title, &[caption.to_owned()])?;
    let (plot, bar) = split_off_colour_bar(&body, style);

    let range = drawable(history.color_range(metric));
    let panel = Panel {
        history,
        metric,
        range,
        steps: step_span([history]),
        title: None,
    };
    draw_panel(&plot, style, &panel)?;
    let specials = Specials::count([history], metric);
    draw_colour_bar(&bar, style, metric, range, specials, false)
}

pub(super) fn draw_comparison<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    style: Style,
    runs: &[SavedRun],
    metric: LayerMetric,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let recurrent = runs.iter().any(|r| r.history.is_recurrent());
    let rows = RowKind::for_metric(recurrent, metric).short_title();
    let title = format!(
        "{} per {rows} and training step: {} runs on one colour scale",
        capitalised(metric.label_ascii()),
        runs.len()
    );
    let caption: Vec<String> = runs
        .iter()
        .map(|run| format!("{}: {}", run.name, run.config.summary()))
        .collect();
    let body = draw_header(root, style, &title, &caption)?;
    let (grid, bar) = split_off_colour_bar(&body, style);

    let histories = || runs.iter().map(|run| &run.history);
    let range = drawable(shared_color_range(histories(), metric));
    let (rows, columns) = grid_shape(runs.len());
    for (area, run) in grid.split_evenly((rows, columns)).iter().zip(runs) {
        let panel = Panel {
            history: &run.history,
            metric,
            range,
            // Each run on its own steps: a run that diverged early would be a sliver
            // on the longest run's axis.
            steps: step_span([&run.history]),
            title: Some(&run.name),
        };
        draw_panel(area, style, &panel)?;
    }
    draw_colour_bar(
        &bar,
        style,
        metric,
        range,
        Specials::count(histories(), metric),
        true,
    )
}

/// `range` with ends that can be drawn: values near the largest f64 can give a linear
/// range infinite ends, or a span too large for f64, which no axis can divide into ticks.
fn drawable(range: ColorRange) -> ColorRange {
    const LIMIT: f64 = 1e300;
    let clamp = |v: f64| {
        if v.is_nan() {
            0.0
        } else {
            v.clamp(-LIMIT, LIMIT)
        }
    };
    let (low, high) = (clamp(range.low), clamp(range.high));
    if high > low {
        ColorRange { low, high, ..range }
    } else {
        ColorRange::empty(range.scale)
    }
}

/// Rows and columns of a grid for `count` panels, as square as it can be, wider than
/// tall.
fn grid_shape(count: usize) -> (usize, usize) {
    let columns = (1..=count.max(1)).find(|c| c * c >= count).unwrap_or(1);
    (count.max(1).div_ceil(columns), columns)
}

fn split_off_colour_bar<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    style: Style,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let width = body.dim_in_pixel().0;
    body.split_horizontally(width.saturating_sub(style.upx(COLOUR_BAR_COLUMN_PX)))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

/// The quantity in a few ASCII characters, for the colour bar's heading.
fn short_label(metric: LayerMetric) -> &'static str {
    match metric {
        LayerMetric::WeightGradNorm => "|dL/dW|",
        LayerMetric::ActivationGradNorm => "|dL/dh|",
        LayerMetric::UpdateRatio => "|dW|/|W|",
        LayerMetric::SaturatedFraction => "saturated fraction",
        LayerMetric::DeadFraction => "dead fraction",
        LayerMetric::ActivationMean => "mean(h)",
        LayerMetric::ActivationStd => "std(h)",
        LayerMetric::HiddenGradNorm => "|dL/dh_t|",
        LayerMetric::GateMean => "gate mean",
        LayerMetric::GateSaturation => "saturated gates",
        LayerMetric::RecurrentSigma => "sigma_max(W_h)",
    }
}

// ---------------------------------------------------------------------------
// One heatmap

struct Panel<'a> {
    history: &'a RunHistory,
    metric: LayerMetric,
    range: ColorRange,
    /// The steps the x axis spans.
    steps: (u64, u64),
    title: Option<&'a str>,
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    style: Style,
    panel: &Panel,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let history = panel.history;
    let num_layers = history.rows(panel.metric).max(1) as f64;
    let row_kind = RowKind::for_metric(history.is_recurrent(), panel.metric);
    let (width, height) = area.dim_in_pixel();

    let mut builder = ChartBuilder::on(area);
    builder
        .margin(style.px(8.0))
        .margin_right(style.px(MARGIN_PX))
        .x_label_area_size(style.px(X_LABEL_AREA_PX))
        .y_label_area_size(style.px(Y_LABEL_AREA_PX));
    if let Some(title) = panel.title {
        let title_style = style.text(PANEL_TITLE_PX, TEXT);
        let title = fit(
            area,
            &ascii(title),
            &title_style,
            width.saturating_sub(style.upx(20.0)),
        )?;
        builder.caption(title, title_style);
    }
    let (first, last) = (panel.steps.0 as f64, panel.steps.1 as f64);
    let x_ticks = integer_ticks(first, last, max_ticks(width, style, TICK_SPACING_PX));
    let y_ticks = integer_ticks(
        1.0,
        num_layers,
        max_ticks(height, style, LAYER_TICK_SPACING_PX),
    );
    let desc_style = style.text(AXIS_DESC_PX, TEXT);
    let room = height.saturating_sub(style.upx(X_LABEL_AREA_PX + 40.0));
    let y_desc = first_fitting(
        area,
        &[row_kind.axis_title(), row_kind.short_title()],
        &desc_style,
        room,
    )?;
    let room = width.saturating_sub(style.upx(Y_LABEL_AREA_PX + 40.0));
    let x_desc = first_fitting(area, &["training step", "step"], &desc_style, room)?;
    let mut chart = builder.build_cartesian_2d(
        TickedAxis::new(first - 0.5..last + 0.5, x_ticks),
        TickedAxis::new(0.5..num_layers + 0.5, y_ticks),
    )?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(style.text(TICK_LABEL_PX, TEXT))
        .axis_desc_style(style.text(AXIS_DESC_PX, TEXT))
        .axis_style(FRAME.stroke_width(style.stroke(1.0)))
        .set_all_tick_mark_size(style.px(TICK_MARK_PX))
        .draw()?;

    if history.is_empty() {
        let plot = chart.plotting_area().strip_coord_spec();
        let (w, h) = plot.dim_in_pixel();
        let text_style =
            style
                .text(AXIS_DESC_PX, CAPTION_TEXT)
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
        plot.draw(&Text::new(
            "no steps recorded",
            (w as i32 / 2, h as i32 / 2),
            text_style,
        ))?;
        return Ok(());
    }
    let max_columns = chart.plotting_area().dim_in_pixel().0 as usize;
    for layer in 0..history.rows(panel.metric) {
        let row = row_cells(history, panel.metric, layer, &panel.range, max_columns);
        chart.draw_series(row)?;
    }
    Ok(())
}

/// The cells of one layer's row, at most `max_columns` of them: each column summarises
/// a range of steps (a NaN or infinity among them wins), and neighbours of one colour
/// are merged so that an SVG stays small.
fn row_cells(
    history: &RunHistory,
    metric: LayerMetric,
    layer: usize,
    range: &ColorRange,
    max_columns: usize,
) -> Vec<Rectangle<(f64, f64)>> {
    let columns = history.len().min(max_columns.max(1));
    let per_column = history.len().div_ceil(columns.max(1)).max(1);
    let y = layer as f64 + 1.0;
    let mut cells = Vec::new();
    let mut pending: Option<(f64, f64, [u8; 3])> = None;
    for start in (0..history.len()).step_by(per_column) {
        let end = (start + per_column).min(history.len());
        // Summarised steps come in buckets: a column draws the buckets that start in
        // it, over their whole width, and none if none does.
        let covered = history.covered(start..end);
        if covered.is_empty() {
            continue;
        }
        let x0 = history.step_of(covered.start) as f64 - 0.5;
        let x1 = history.step_of(covered.end - 1) as f64 + 0.5;
        let summary = history.summarize(metric, layer, start..end);
        let color = cell_rgb(summary.display(metric.scale()), range);
        match &mut pending {
            Some((_, pending_end, pending_color)) if *pending_color == color => {
                *pending_end = x1;
            }
            _ => {
                cells.extend(pending.take().map(|cell| cell_rectangle(cell, y)));
                pending = Some((x0, x1, color));
            }
        }
    }
    cells.extend(pending.map(|cell| cell_rectangle(cell, y)));
    cells
}

fn cell_rectangle((x0, x1, color): (f64, f64, [u8; 3]), y: f64) -> Rectangle<(f64, f64)> {
    Rectangle::new([(x0, y - 0.5), (x1, y + 0.5)], rgb(color).filled())
}

// ---------------------------------------------------------------------------
// The colour bar and the legend of special values

/// How many recorded values have no place on the colour scale.
#[derive(Clone, Copy, Debug, Default)]
struct Specials {
    nan: usize,
    inf: usize,
    zero: usize,
}

impl Specials {
    fn count<'a>(histories: impl IntoIterator<Item = &'a RunHistory>, metric: LayerMetric) -> Self {
        let mut counts = Self::default();
        for history in histories {
            for row in 0..history.rows(metric) {
                let summary = history.summarize(metric, row, 0..history.len());
                counts.nan += summary.nan_count;
                counts.inf += summary.inf_count;
                counts.zero += summary.zero_count;
            }
        }
        counts
    }
}

fn draw_colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    style: Style,
    metric: LayerMetric,
    range: ColorRange,
    specials: Specials,
    shared: bool,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let mut heading = vec![short_label(metric).to_owned()];
    heading.push(match range.scale {
        Scale::Log => "log scale, decades".to_owned(),
        Scale::Linear { .. } => "linear scale".to_owned(),
    });
    if shared {
        heading.push("shared scale".to_owned());
    }
    let mut legend = vec![
        ("NaN", NAN_RGB, specials.nan),
        ("Inf", INF_RGB, specials.inf),
    ];
    if range.scale == Scale::Log {
        legend.push(("exact 0", ZERO_RGB, specials.zero));
    }

    let heading_style = style.text(LEGEND_PX, TEXT);
    let row_height = line_height(area, &heading_style)?;
    let legend_row_height = row_height.max(style.px(LEGEND_PX)) + style.px(6.0);
    let heading_height = style.px(8.0) + row_height * heading.len() as i32;
    let legend_height =
        style.px(12.0) + legend_row_height * legend.len() as i32 + style.px(MARGIN_PX);
    let (width, height) = area.dim_in_pixel();
    let max_text = width.saturating_sub(style.upx(12.0));
    for (row, line) in heading.iter().enumerate() {
        let text = fit(area, line, &heading_style, max_text)?;
        let y = style.px(8.0) + row_height * row as i32;
        area.draw(&Text::new(text, (style.px(12.0), y), heading_style.clone()))?;
    }

    let (rest, legend_area) = area.split_vertically(height as i32 - legend_height);
    let (_, bar_area) = rest.split_vertically(heading_height);
    draw_gradient(&bar_area, style, range)?;

    let swatch = style.px(LEGEND_PX);
    let label_x = style.px(12.0) + swatch + style.px(8.0);
    for (row, (label, color, count)) in legend.into_iter().enumerate() {
        let y = style.px(12.0) + legend_row_height * row as i32;
        legend_area.draw(&Rectangle::new(
            [(style.px(12.0), y), (style.px(12.0) + swatch, y + swatch)],
            rgb(color).filled(),
        ))?;
        let text = match count {
            0 => format!("{label} (none)"),
            1 => format!("{label} (1 value)"),
            n => format!("{label} ({n} values)"),
        };
        let text = fit(
            &legend_area,
            &text,
            &heading_style,
            max_text.saturating_sub(label_x as u32),
        )?;
        legend_area.draw(&Text::new(text, (label_x, y), heading_style.clone()))?;
    }
    Ok(())
}

fn draw_gradient<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    style: Style,
    range: ColorRange,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let (low, high) = (range.low, range.high);
    let height = area.dim_in_pixel().1;
    let max_ticks = (f64::from(height) / (28.0 * style.scale())).max(2.0) as usize;
    let ticks: Vec<f64> = range.ticks(max_ticks).into_iter().map(|t| t.0).collect();
    let mut bar = ChartBuilder::on(area)
        .margin_top(style.px(10.0))
        .margin_bottom(style.px(10.0))
        .margin_left(style.px(12.0))
        .margin_right(style.px(50.0))
        .right_y_label_area_size(style.px(64.0))
        .build_cartesian_2d(0.0..1.0, TickedAxis::new(low..high, ticks))?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_label_formatter(&|v| match range.scale {
            Scale::Log => format!("1e{v:.0}"),
            Scale::Linear { .. } => linear_label(*v),
        })
        .label_style(style.text(TICK_LABEL_PX, TEXT))
        .axis_style(FRAME.stroke_width(style.stroke(1.0)))
        .set_all_tick_mark_size(style.px(TICK_MARK_PX))
        .draw()?;

    let bands = COLOUR_BAR_BANDS.min(height.max(1));
    bar.draw_series((0..bands).map(|i| {
        let t0 = f64::from(i) / f64::from(bands);
        let t1 = f64::from(i + 1) / f64::from(bands);
        let color = rgb(gradient_rgb((t0 + t1) / 2.0));
        Rectangle::new(
            [
                (0.0, low + t0 * (high - low)),
                (1.0, low + t1 * (high - low)),
            ],
            color.filled(),
        )
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_are_about_square() {
        assert_eq!(grid_shape(1), (1, 1));
        assert_eq!(grid_shape(2), (1, 2));
        assert_eq!(grid_shape(3), (2, 2));
        assert_eq!(grid_shape(4), (2, 2));
        assert_eq!(grid_shape(5), (2, 3));
        assert_eq!(grid_shape(10), (3, 4));
    }
}
