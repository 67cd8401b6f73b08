//! Figures drawn without a window: the gradient heatmap with axes, a colour bar in
//! decades, a legend for NaN, infinities and exact zeros, and a caption of the
//! configuration.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use thiserror::Error;

use crate::colormap::{INF_RGB, NAN_RGB, ZERO_RGB, cell_rgb, gradient_rgb};
use crate::history::{ColorRange, RunHistory};
use crate::session::write_atomic;
use crate::train::LayerMetric;
use crate::train::Scale;

/// Why a figure could not be written.
#[derive(Debug, Error)]
pub enum FigureError {
    #[error("could not draw the figure: {0}")]
    Draw(String),
    #[error("could not write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

const FONT: &str = "sans-serif";
/// Columns drawn at most; longer runs are summarised, each column a range of steps.
const MAX_COLUMNS: usize = 800;

/// Draws the heatmap of `metric` and writes it as a PNG of `width × height` pixels.
pub fn heatmap_png(
    history: &RunHistory,
    metric: LayerMetric,
    caption: &str,
    path: &Path,
    (width, height): (u32, u32),
) -> Result<(), FigureError> {
    register_fonts();
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw_heatmap(&root, history, metric, caption)
            .map_err(|e| FigureError::Draw(e.to_string()))?;
        root.present()
            .map_err(|e| FigureError::Draw(e.to_string()))?;
    }

    let image = image::RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| FigureError::Draw("the pixel buffer has the wrong size".into()))?;
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| FigureError::Draw(e.to_string()))?;
    write_atomic(path, &png).map_err(|source| FigureError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The fonts come with the app's GUI toolkit, so figures look the same everywhere
/// without relying on the system's fonts.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .is_err()
        {
            log::warn!("the bundled figure font could not be loaded");
        }
    });
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    history: &RunHistory,
    metric: LayerMetric,
    caption: &str,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (width, height) = root.dim_in_pixel();
    let (header, body) = root.split_vertically(64);
    let (main, side) = body.split_horizontally(width.saturating_sub(170));

    header.draw(&Text::new(
        format!("Gradient heatmap: {}", metric.label_ascii()),
        (16, 10),
        (FONT, 22).into_font(),
    ))?;
    header.draw(&Text::new(
        caption.to_owned(),
        (16, 38),
        (FONT, 15).into_font().color(&RGBColor(70, 70, 70)),
    ))?;

    let num_layers = history.num_layers().max(1);
    let range = history.color_range(metric);
    let first = history.step_of(0) as f64 - 0.5;
    let last = history.last_step().max(1) as f64 + 0.5;

    let mut chart = ChartBuilder::on(&main)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(first..last, 0.5..num_layers as f64 + 0.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("training step")
        .y_desc("layer (1 = input side)")
        .y_labels(num_layers.min(12))
        .y_label_formatter(&|y| format!("{:.0}", y))
        .x_label_formatter(&|x| format!("{:.0}", x))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()?;

    let columns = history.len().min(MAX_COLUMNS);
    let steps_per_column = history.len().div_ceil(columns.max(1)).max(1);
    let mut cells = Vec::with_capacity(columns * num_layers);
    for start in (0..history.len()).step_by(steps_per_column) {
        let end = (start + steps_per_column).min(history.len());
        let x0 = history.step_of(start) as f64 - 0.5;
        let x1 = history.step_of(end - 1) as f64 + 0.5;
        for layer in 0..history.num_layers() {
            let summary = history.summarize(metric, layer, start..end);
            let color = rgb(cell_rgb(summary.display(metric.scale()), &range));
            let y = layer as f64 + 1.0;
            cells.push(Rectangle::new(
                [(x0, y - 0.5), (x1, y + 0.5)],
                color.filled(),
            ));
        }
    }
    chart.draw_series(cells)?;

    draw_colour_bar(&side, range, height)?;
    Ok(())
}

fn draw_colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    range: ColorRange,
    height: u32,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let legend_height = 90;
    let (bar_area, legend) = area.split_vertically(height.saturating_sub(64 + legend_height));
    let (low, high) = (range.low, range.high);
    let mut bar = ChartBuilder::on(&bar_area)
        .margin_top(12)
        .margin_bottom(44)
        .margin_right(40)
        .y_label_area_size(0)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0.0..1.0, low..high)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(range.ticks(20).len())
        .y_label_formatter(&|v| match range.scale {
            Scale::Log => format!("1e{v:.0}"),
            Scale::Linear { .. } => format!("{v:.2}"),
        })
        .label_style((FONT, 13))
        .draw()?;
    let steps = 200;
    bar.draw_series((0..steps).map(|i| {
        let t0 = f64::from(i) / f64::from(steps);
        let t1 = f64::from(i + 1) / f64::from(steps);
        let color = rgb(gradient_rgb((t0 + t1) / 2.0));
        Rectangle::new(
            [
                (0.0, low + t0 * (high - low)),
                (1.0, low + t1 * (high - low)),
            ],
            color.filled(),
        )
    }))?;

    for (row, (label, color)) in [("NaN", NAN_RGB), ("Inf", INF_RGB), ("exact 0", ZERO_RGB)]
        .into_iter()
        .enumerate()
    {
        let y = 8 + row as i32 * 24;
        legend.draw(&Rectangle::new(
            [(12, y), (30, y + 16)],
            rgb(color).filled(),
        ))?;
        legend.draw(&Text::new(label, (38, y), (FONT, 14).into_font()))?;
    }
    Ok(())
}
