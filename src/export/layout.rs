//! Pieces of layout the figures share: a title with a wrapped caption, text that fits a
//! width, and tick positions on whole steps and layers.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use super::figure::DrawResult;
use super::style::{CAPTION_PX, CAPTION_TEXT, MARGIN_PX, Style, TEXT, TITLE_PX, ascii};
use crate::history::{RunHistory, nice_step};

/// How much wider than measured text is allowed to come out.
const TEXT_WIDTH_SLACK: f64 = 1.15;
/// At most this share of a figure's height goes to its title and caption.
const MAX_HEADER_SHARE: f64 = 0.3;

/// Draws `title` and the `caption` paragraphs (each wrapped to the figure's width) at
/// the top of `root`, and returns the area below them.
pub(super) fn draw_header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    style: Style,
    title: &str,
    caption: &[String],
) -> DrawResult<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let (width, height) = root.dim_in_pixel();
    let margin = style.px(MARGIN_PX);
    let text_width = width.saturating_sub(2 * margin.unsigned_abs());
    let title_style = style.text(TITLE_PX, TEXT);
    let caption_style = style.text(CAPTION_PX, CAPTION_TEXT);

    // The title on at most two lines.
    let mut title_lines = wrap(root, &ascii(title), &title_style, text_width)?;
    if title_lines.len() > 2 {
        let rest = title_lines.split_off(1).join(" ");
        title_lines.push(fit(root, &rest, &title_style, text_width)?);
    }
    let line = line_height(root, &title_style)?;
    for (row, text) in title_lines.iter().enumerate() {
        let y = margin + line * row as i32;
        root.draw(&Text::new(text.as_str(), (margin, y), title_style.clone()))?;
    }
    let title_height = line * title_lines.len() as i32;
    let caption_height = line_height(root, &caption_style)?;

    let mut lines = Vec::new();
    for paragraph in caption {
        lines.extend(wrap(root, &ascii(paragraph), &caption_style, text_width)?);
    }
    let room = (f64::from(height) * MAX_HEADER_SHARE) as i32 - margin - title_height;
    let max_lines = (room / caption_height.max(1)).max(1) as usize;
    if lines.len() > max_lines {
        let hidden = lines.len() + 1 - max_lines;
        lines.truncate(max_lines - 1);
        lines.push(format!("... ({hidden} more lines)"));
    }

    let mut y = margin + title_height + style.px(4.0);
    for line in lines {
        root.draw(&Text::new(line, (margin, y), caption_style.clone()))?;
        y += caption_height;
    }
    let (_, body) = root.split_vertically(y + style.px(6.0));
    Ok(body)
}

/// The first of `candidates` (longest first) no wider than `max_width` pixels, else the
/// last: a short axis name for a small chart.
pub(super) fn first_fitting<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    candidates: &[&'a str],
    text_style: &TextStyle,
    max_width: u32,
) -> DrawResult<&'a str>
where
    DB::ErrorType: 'static,
{
    for &candidate in candidates {
        if fits(area, candidate, text_style, max_width)? {
            return Ok(candidate);
        }
    }
    Ok(candidates.last().copied().unwrap_or_default())
}

/// Whether `text` fits into `max_width` pixels, with room to spare: an SVG viewer draws
/// it in its own sans-serif, which may be wider than the bundled font measured here.
fn fits<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    text_style: &TextStyle,
    max_width: u32,
) -> DrawResult<bool>
where
    DB::ErrorType: 'static,
{
    let width = area.estimate_text_size(text, text_style)?.0;
    Ok(f64::from(width) * TEXT_WIDTH_SLACK <= f64::from(max_width))
}

/// The height of a line of text in `text_style`, with a little leading.
pub(super) fn line_height<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text_style: &TextStyle,
) -> DrawResult<i32>
where
    DB::ErrorType: 'static,
{
    let (_, height) = area.estimate_text_size("Ag|", text_style)?;
    Ok((f64::from(height) * 1.3).round() as i32)
}

/// `text` broken at spaces into lines no wider than `max_width` pixels (a single word
/// wider than that is cut to fit).
pub(super) fn wrap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    text_style: &TextStyle,
    max_width: u32,
) -> DrawResult<Vec<String>>
where
    DB::ErrorType: 'static,
{
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if line.is_empty() || fits(area, &candidate, text_style, max_width)? {
            line = candidate;
        } else {
            lines.push(fit(area, &line, text_style, max_width)?);
            line = word.to_owned();
        }
    }
    if !line.is_empty() {
        lines.push(fit(area, &line, text_style, max_width)?);
    }
    Ok(lines)
}

/// `text` as it is if it fits into `max_width` pixels, else cut and ended with "...".
pub(super) fn fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    text_style: &TextStyle,
    max_width: u32,
) -> DrawResult<String>
where
    DB::ErrorType: 'static,
{
    if fits(area, text, text_style, max_width)? {
        return Ok(text.to_owned());
    }
    let mut kept: Vec<char> = text.chars().collect();
    while !kept.is_empty() {
        kept.pop();
        let candidate: String = kept.iter().collect::<String>() + "...";
        if fits(area, &candidate, text_style, max_width)? {
            return Ok(candidate);
        }
    }
    Ok(String::new())
}

/// The first and last step recorded in any of `histories`.
pub(super) fn step_span<'a>(histories: impl IntoIterator<Item = &'a RunHistory>) -> (u64, u64) {
    histories
        .into_iter()
        .filter(|h| !h.is_empty())
        .map(|h| (h.step_of(0), h.last_step()))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
        .unwrap_or((1, 1))
}

/// How many tick labels fit along `length` pixels, `spacing_px` logical pixels apart.
pub(super) fn max_ticks(length: u32, style: Style, spacing_px: f64) -> usize {
    (f64::from(length) / (spacing_px * style.scale())).max(2.0) as usize
}

/// Ticks on whole numbers from `low` to `high` (both whole), at most about
/// `max_count` of them, at multiples of 1, 2 or 5 times a power of ten; `low` itself
/// leads the list when it is not a multiple and not too close to the next tick.
pub(super) fn integer_ticks(low: f64, high: f64, max_count: usize) -> Vec<f64> {
    let (low, high) = (low.round(), high.round().max(low.round()));
    let every = nice_step(((high - low) / max_count.max(1) as f64).max(1.0));

    let first = (low / every).ceil() * every;
    let mut ticks = Vec::new();
    if first - low > every / 2.0 {
        ticks.push(low);
    }
    // Counted rather than summed, so that steps too large for f64 to tell apart
    // cannot loop for ever.
    let count = ((high - first) / every).floor().max(-1.0) as i64;
    ticks.extend((0..=count.min(max_count as i64 + 1)).map(|i| first + i as f64 * every));
    if ticks.is_empty() {
        ticks.push(low);
    }
    ticks
}

// ---------------------------------------------------------------------------
// Axes

/// A linear axis whose tick marks are exactly the values given, so that a step or layer
/// axis is never labelled between two whole numbers.
#[derive(Clone, Debug)]
pub(super) struct TickedAxis {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl TickedAxis {
    pub(super) fn new(range: Range<f64>, ticks: Vec<f64>) -> Self {
        Self { range, ticks }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, (from, to): (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span == 0.0 {
            return (from + to) / 2;
        }
        let position = (value - self.range.start) / span;
        // `as` saturates, so a value far outside the range lands at the edge of i32.
        (f64::from(from) + position * f64::from(to - from)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// Ticks at multiples of 1, 2 or 5 times a power of ten within `range`, at most about
/// `max_count` of them.
pub(super) fn nice_ticks(range: Range<f64>, max_count: usize) -> Vec<f64> {
    let raw = (range.end - range.start) / max_count.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return vec![range.start];
    }
    let every = nice_step(raw);
    let first = (range.start / every).ceil() as i64;
    let last = (range.end / every).floor() as i64;
    let count = max_count as i64 + 1;
    (first..=last.min(first.saturating_add(count)))
        .map(|i| i as f64 * every)
        .collect()
}

/// Decimals enough to tell ticks apart.
pub(super) fn decimals_for(ticks: &[f64]) -> usize {
    let step = ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    if step.is_finite() && step > 0.0 {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ticks_are_round_and_within_range() {
        assert_eq!(integer_ticks(1.0, 3.0, 12), [1.0, 2.0, 3.0]);
        assert_eq!(
            integer_ticks(1.0, 30.0, 12),
            [1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
        assert_eq!(integer_ticks(1.0, 1.0, 10), [1.0]);
        assert_eq!(
            integer_ticks(1.0, 2000.0, 5),
            [1.0, 500.0, 1000.0, 1500.0, 2000.0]
        );
        let ticks = integer_ticks(101.0, 120.0, 10);
        assert_eq!(
            ticks,
            (0..10)
                .map(|i| 102.0 + 2.0 * f64::from(i))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn nice_ticks_are_round() {
        assert_eq!(nice_ticks(0.0..2.4, 5), [0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(decimals_for(&[0.0, 0.5, 1.0]), 1);
        assert_eq!(decimals_for(&[0.0, 2.0]), 0);
    }
}
