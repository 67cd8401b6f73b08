//! The look of the exported figures in one place: the font, sizes in logical pixels,
//! colours, and the scale that turns logical pixels into real ones, so that a figure
//! twice as large at scale 2 looks like the small one drawn finer.

use plotters::prelude::*;
use plotters::style::FontDesc;

/// The family name the bundled font is registered under.
pub(super) const FONT: &str = "sans-serif";

// ---------------------------------------------------------------------------
// Sizes, in logical pixels

pub(super) const TITLE_PX: f64 = 22.0;
pub(super) const CAPTION_PX: f64 = 15.0;
pub(super) const PANEL_TITLE_PX: f64 = 16.0;
pub(super) const AXIS_DESC_PX: f64 = 16.0;
pub(super) const TICK_LABEL_PX: f64 = 14.0;
pub(super) const LEGEND_PX: f64 = 14.0;
/// Space around the figure's edges and between its parts.
pub(super) const MARGIN_PX: f64 = 16.0;
/// Width of the colour bar's column, labels included.
pub(super) const COLOUR_BAR_COLUMN_PX: f64 = 170.0;
/// Room for the tick labels and axis name under and beside a chart.
pub(super) const X_LABEL_AREA_PX: f64 = 48.0;
pub(super) const Y_LABEL_AREA_PX: f64 = 72.0;
/// About how far apart tick labels of a step or layer axis are.
pub(super) const TICK_SPACING_PX: f64 = 90.0;
pub(super) const LINE_PX: f64 = 2.0;
pub(super) const THIN_LINE_PX: f64 = 1.0;
pub(super) const MARKER_PX: f64 = 3.0;
/// Length of the tick marks; labels stand twice as far from the axis.
pub(super) const TICK_MARK_PX: f64 = 5.0;

// ---------------------------------------------------------------------------
// Colours

pub(super) const TEXT: RGBColor = RGBColor(20, 20, 20);
pub(super) const CAPTION_TEXT: RGBColor = RGBColor(70, 70, 70);
pub(super) const FRAME: RGBColor = RGBColor(60, 60, 60);
pub(super) const LOSS: RGBColor = RGBColor(31, 119, 180);
pub(super) const BATCH_ACCURACY: RGBColor = RGBColor(140, 180, 220);
pub(super) const TEST_ACCURACY: RGBColor = RGBColor(230, 120, 20);
/// Where a run diverged: the colormap's NaN red.
pub(super) const DIVERGED: RGBColor = RGBColor(
    crate::colormap::NAN_RGB[0],
    crate::colormap::NAN_RGB[1],
    crate::colormap::NAN_RGB[2],
);

/// The colour of the `index`-th run in figures of several runs.
pub(super) fn run_color(index: usize) -> RGBColor {
    let palette = colorous::TABLEAU10;
    let c = palette[index % palette.len()];
    RGBColor(c.r, c.g, c.b)
}

pub(super) fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

// ---------------------------------------------------------------------------
// The scale

/// Logical sizes turned into pixels for one figure.
#[derive(Clone, Copy, Debug)]
pub(super) struct Style {
    scale: f64,
    /// Drawn into pixels rather than as vectors.
    raster: bool,
}

impl Style {
    pub(super) fn new(scale: f64, raster: bool) -> Self {
        Self { scale, raster }
    }

    /// True when the figure is drawn into pixels: plotters fills a wide polyline as one
    /// polygon there, which leaves holes where a noisy line crosses itself, so such
    /// lines are drawn a segment at a time.
    pub(super) fn raster(self) -> bool {
        self.raster
    }

    /// The multiplier from logical pixels to pixels.
    pub(super) fn scale(self) -> f64 {
        self.scale
    }

    /// A length in pixels.
    pub(super) fn px(self, logical: f64) -> i32 {
        (logical * self.scale).round() as i32
    }

    /// A length in pixels, never negative.
    pub(super) fn upx(self, logical: f64) -> u32 {
        (logical * self.scale).round().max(0.0) as u32
    }

    /// A line width in pixels, at least one.
    pub(super) fn stroke(self, logical: f64) -> u32 {
        self.upx(logical).max(1)
    }

    pub(super) fn font(self, size_px: f64) -> FontDesc<'static> {
        (FONT, size_px * self.scale).into_font()
    }

    pub(super) fn text(self, size_px: f64, color: RGBColor) -> TextStyle<'static> {
        self.font(size_px).color(&color)
    }
}

// ---------------------------------------------------------------------------
// Text

/// `text` in printable ASCII, as the figure font can draw it: the configuration
/// summary's separators and symbols spelled out, anything else unknown shown as `?`
/// (which also keeps control characters from a session file out of the SVG).
pub(super) fn ascii(text: &str) -> String {
    let text = text.replace(" · ", ", ");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' '..='~' => out.push(c),
            '×' => out.push('x'),
            '·' | '–' | '—' | '−' => out.push('-'),
            '∂' | 'Δ' => out.push('d'),
            'σ' => out.push_str("sigma"),
            '\t' | '\n' | '\r' => out.push(' '),
            _ => out.push('?'),
        }
    }
    out
}

/// A tick label of a value on a log10 axis: plain for moderate powers of ten.
pub(super) fn decade_label(log10: f64) -> String {
    let power = log10.round();
    if (-3.0..=3.0).contains(&power) {
        format!("{}", 10f64.powi(power as i32))
    } else {
        format!("1e{power:.0}")
    }
}

/// A tick label of a value on a linear axis, short at any magnitude.
pub(super) fn linear_label(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-3..1e4).contains(&magnitude) {
        format!("{value:.2e}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_text_is_printable_ascii() {
        assert_eq!(
            ascii("digits · 30×64 sigmoid · seed 1"),
            "digits, 30x64 sigmoid, seed 1"
        );
        assert_eq!(ascii("a\u{1}b\nc ∂"), "a?b c d");
        assert!(
            ascii("Läufe 日本")
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' ')
        );
    }

    #[test]
    fn decade_labels() {
        assert_eq!(decade_label(-2.0), "0.01");
        assert_eq!(decade_label(0.0), "1");
        assert_eq!(decade_label(3.0), "1000");
        assert_eq!(decade_label(-7.0), "1e-7");
        assert_eq!(decade_label(12.0), "1e12");
    }

    #[test]
    fn linear_labels_stay_short() {
        assert_eq!(linear_label(0.25), "0.25");
        assert_eq!(linear_label(-0.2), "-0.20");
        assert_eq!(linear_label(0.0), "0.00");
        assert_eq!(linear_label(2.0725935e14), "2.07e14");
        assert_eq!(linear_label(-3e-5), "-3.00e-5");
    }
}
