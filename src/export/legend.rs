//! The legend beside curve figures: a swatch and a wrapped text an entry, one below the
//! other, outside the plots so that it never hides a curve.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::DrawResult;
use super::layout::{line_height, wrap};
use super::style::{LEGEND_PX, LINE_PX, MARGIN_PX, MARKER_PX, Style, TEXT, THIN_LINE_PX, ascii};

/// What a legend entry shows before its text.
#[derive(Clone, Copy, Debug)]
pub(super) enum Swatch {
    Line(RGBColor),
    Thin(RGBColor),
    Points(RGBColor),
    Dashed(RGBColor),
}

pub(super) struct LegendEntry {
    pub(super) swatch: Swatch,
    pub(super) text: String,
}

/// The entries one below the other in `area`, each text wrapped to its width.
pub(super) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    style: Style,
    entries: &[LegendEntry],
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let text_style = style.text(LEGEND_PX, TEXT);
    let row = line_height(area, &text_style)?;
    let (width, height) = area.dim_in_pixel();
    let swatch_x = style.px(4.0);
    let swatch_width = style.px(28.0);
    let text_x = swatch_x + swatch_width + style.px(8.0);
    let text_width = width.saturating_sub(text_x.unsigned_abs() + style.upx(8.0));

    let mut y = style.px(MARGIN_PX);
    for entry in entries {
        let lines = wrap(area, &ascii(&entry.text), &text_style, text_width)?;
        if y + row * lines.len() as i32 > height as i32 {
            area.draw(&Text::new("...", (text_x, y), text_style.clone()))?;
            break;
        }
        let middle = y + row / 2 - style.px(2.0);
        draw_swatch(
            area,
            style,
            entry.swatch,
            (swatch_x, swatch_x + swatch_width),
            middle,
        )?;
        for line in lines {
            area.draw(&Text::new(line, (text_x, y), text_style.clone()))?;
            y += row;
        }
        y += style.px(6.0);
    }
    Ok(())
}

fn draw_swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    style: Style,
    swatch: Swatch,
    (x0, x1): (i32, i32),
    y: i32,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    match swatch {
        Swatch::Line(color) | Swatch::Thin(color) => {
            let width = if matches!(swatch, Swatch::Line(_)) {
                LINE_PX
            } else {
                THIN_LINE_PX
            };
            let stroke = color.stroke_width(style.stroke(width * 1.5));
            area.draw(&PathElement::new(vec![(x0, y), (x1, y)], stroke))?;
        }
        Swatch::Points(color) => {
            let stroke = color.stroke_width(style.stroke(LINE_PX));
            area.draw(&PathElement::new(vec![(x0, y), (x1, y)], stroke))?;
            let middle = (x0 + x1) / 2;
            area.draw(&Circle::new(
                (middle, y),
                style.px(MARKER_PX + 1.0),
                color.filled(),
            ))?;
        }
        Swatch::Dashed(color) => {
            let stroke = color.stroke_width(style.stroke(LINE_PX));
            let dash = (x1 - x0) / 3;
            area.draw(&PathElement::new(vec![(x0, y), (x0 + dash, y)], stroke))?;
            area.draw(&PathElement::new(vec![(x1 - dash, y), (x1, y)], stroke))?;
        }
    }
    Ok(())
}
