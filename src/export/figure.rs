//! Figures drawn without a window, as PNG or SVG from one drawing function each: the
//! heatmap of a metric, the loss and accuracy curves, and several runs side by side.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use thiserror::Error;

use super::style::{FONT, Style};
use super::{curves, heatmap};
use crate::history::RunHistory;
use crate::session::{SavedRun, write_atomic};
use crate::train::LayerMetric;

/// Why a figure could not be made or written.
#[derive(Debug, Error)]
pub enum FigureError {
    #[error("{0}")]
    Size(String),
    #[error("could not draw the figure: {0}")]
    Draw(String),
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A file format for figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FigureFormat {
    Png,
    Svg,
}

impl FigureFormat {
    pub const ALL: [Self; 2] = [Self::Png, Self::Svg];

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Svg => "svg",
        }
    }
}

/// The size of a figure in pixels, and the scale of its fonts, lines and margins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FigureSize {
    width: u32,
    height: u32,
    scale: f64,
}

impl FigureSize {
    /// The largest width or height: a PNG this large already takes 200 MB to draw.
    pub const MAX_SIDE: u32 = 8192;
    /// The smallest width and height divided by the scale that the layout fits into.
    pub const MIN_LAYOUT: (u32, u32) = (480, 320);
    pub const MAX_SCALE: f64 = 8.0;
    pub const MIN_SCALE: f64 = 0.5;

    /// Checks a requested size: each side at most [`Self::MAX_SIDE`], the scale within
    /// [`Self::MIN_SCALE`, `Self::MAX_SCALE`], and room for the layout at that scale.
    pub fn new(width: u32, height: u32, scale: f64) -> Result<Self, FigureError> {
        if !(Self::MIN_SCALE..=Self::MAX_SCALE).contains(&scale) {
            return Err(FigureError::Size(format!(
                "figure scale {scale} is outside {}..={}",
                Self::MIN_SCALE,
                Self::MAX_SCALE
            )));
        }
        if width > Self::MAX_SIDE || height > Self::MAX_SIDE {
            return Err(FigureError::Size(format!(
                "a figure of {width}x{height} pixels is too large; each side can be at most {}",
                Self::MAX_SIDE
            )));
        }
        let (min_width, min_height) = Self::MIN_LAYOUT;
        let need_width = (f64::from(min_width) * scale).ceil();
        let need_height = (f64::from(min_height) * scale).ceil();
        if f64::from(width) < need_width || f64::from(height) < need_height {
            return Err(FigureError::Size(format!(
                "a figure of {width}x{height} pixels is too small for scale {scale}; \
                 it needs at least {need_width}x{need_height}"
            )));
        }
        Ok(Self {
            width,
            height,
            scale,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }
}

/// A figure and what it is drawn from.
#[derive(Clone, Copy, Debug)]
pub enum Figure<'a> {
    /// The heatmap of one metric of one run: layers by steps, with a colour bar, a
    /// legend of the special values and a caption.
    Heatmap {
        history: &'a RunHistory,
        metric: LayerMetric,
        caption: &'a str,
    },
    /// Batch loss above batch and test accuracy, over the steps of one run.
    Curves {
        history: &'a RunHistory,
        caption: &'a str,
    },
    /// The heatmaps of several runs in a grid, on one colour scale shared by all.
    ComparisonHeatmaps {
        runs: &'a [SavedRun],
        metric: LayerMetric,
    },
    /// The batch loss of several runs overlaid, one colour a run.
    ComparisonLoss { runs: &'a [SavedRun] },
}

impl Figure<'_> {
    /// The figure as the bytes of a file of `format`.
    pub fn render(&self, format: FigureFormat, size: FigureSize) -> Result<Vec<u8>, FigureError> {
        register_fonts();
        match format {
            FigureFormat::Png => self.render_png(size),
            FigureFormat::Svg => self.render_svg(size),
        }
    }

    /// Renders the figure and writes it to `path` atomically.
    pub fn write(
        &self,
        format: FigureFormat,
        size: FigureSize,
        path: &Path,
    ) -> Result<(), FigureError> {
        let bytes = self.render(format, size)?;
        write_atomic(path, &bytes).map_err(|source| FigureError::Write {
            path: path.to_owned(),
            source,
        })
    }

    fn render_png(&self, size: FigureSize) -> Result<Vec<u8>, FigureError> {
        let (width, height) = (size.width, size.height);
        let mut pixels = vec![0u8; width as usize * height as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
            self.draw(&root, Style::new(size.scale, true))
                .map_err(draw_error)?;
            root.present().map_err(draw_error)?;
        }

        let image = image::RgbImage::from_raw(width, height, pixels)
            .ok_or_else(|| FigureError::Draw("the pixel buffer has the wrong size".into()))?;
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(draw_error)?;
        Ok(png)
    }

    fn render_svg(&self, size: FigureSize) -> Result<Vec<u8>, FigureError> {
        let mut svg = String::new();
        {
            let root =
                SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
            self.draw(&root, Style::new(size.scale, false))
                .map_err(draw_error)?;
            root.present().map_err(draw_error)?;
        }
        Ok(svg.into_bytes())
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        style: Style,
    ) -> DrawResult<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        match *self {
            Self::Heatmap {
                history,
                metric,
                caption,
            } => heatmap::draw_heatmap(root, style, history, metric, caption),
            Self::Curves { history, caption } => curves::draw_curves(root, style, history, caption),
            Self::ComparisonHeatmaps { runs, metric } => {
                heatmap::draw_comparison(root, style, runs, metric)
            }
            Self::ComparisonLoss { runs } => curves::draw_loss_comparison(root, style, runs),
        }
    }
}

/// Draws the heatmap of `metric` and writes it as a PNG of `width × height` pixels at
/// scale 1.
pub fn heatmap_png(
    history: &RunHistory,
    metric: LayerMetric,
    caption: &str,
    path: &Path,
    (width, height): (u32, u32),
) -> Result<(), FigureError> {
    let figure = Figure::Heatmap {
        history,
        metric,
        caption,
    };
    figure.write(
        FigureFormat::Png,
        FigureSize::new(width, height, 1.0)?,
        path,
    )
}

pub(super) type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn draw_error(error: impl std::fmt::Display) -> FigureError {
    FigureError::Draw(error.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        assert!(FigureSize::new(1400, 800, 1.0).is_ok());
        assert!(FigureSize::new(2800, 1600, 2.0).is_ok());
        assert!(FigureSize::new(480, 320, 1.0).is_ok());
        assert!(FigureSize::new(479, 320, 1.0).is_err());
        assert!(FigureSize::new(900, 600, 2.0).is_err());
        assert!(FigureSize::new(8193, 800, 1.0).is_err());
        assert!(FigureSize::new(1400, 800, 0.0).is_err());
        assert!(FigureSize::new(1400, 800, f64::NAN).is_err());
        assert!(FigureSize::new(1400, 800, f64::INFINITY).is_err());
    }
}
