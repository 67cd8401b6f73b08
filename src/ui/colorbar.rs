//! The heatmap's colour bar: the gradient labelled in decades, and the colours that
//! stand for NaN, infinity, exact zero and steps not yet recorded.

use egui::{Align2, FontId, Rect, Role, Sense, Stroke, StrokeKind, WidgetInfo, pos2, vec2};

use super::theme;
use crate::colormap::gradient_rgb;
use crate::history::ColorRange;
use crate::train::Scale;

/// Draws the colour bar for `range`, `height` points tall, `title` above it (one line
/// or more).
pub fn colorbar_ui(ui: &mut egui::Ui, height: f32, range: Option<ColorRange>, title: &str) {
    let range = range.unwrap_or(ColorRange::empty(Scale::Log));
    let size = vec2(theme::COLOR_BAR_WIDTH, height);
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    // The title is painted; screen readers (and the UI tests) read it from here.
    response.widget_info(|| {
        WidgetInfo::labeled(
            Role::Label,
            true,
            format!("colour bar: {}", title.replace('\n', " ")),
        )
    });
    let painter = ui.painter_at(rect);
    let text_color = ui.visuals().text_color();
    let small = FontId::proportional(11.0);

    painter.text(
        rect.left_top() + vec2(2.0, 0.0),
        Align2::LEFT_TOP,
        title,
        small.clone(),
        text_color,
    );

    // A short bar (two heatmaps stacked) keeps its scale and drops the legend of
    // special colours, which the other bar on screen shows.
    let show_legend = height >= 200.0;
    let legend_height = if show_legend { 4.0 * 18.0 + 8.0 } else { 0.0 };
    let title_lines = title.lines().count().max(1) as f32;
    let top_gap = (if show_legend { 23.0 } else { 9.0 }) + 13.0 * title_lines;
    let strip = Rect::from_min_max(
        pos2(rect.left() + 4.0, rect.top() + top_gap),
        pos2(
            rect.left() + 4.0 + theme::COLOR_BAR_STRIP_WIDTH,
            rect.bottom() - legend_height - 12.0,
        ),
    );
    if strip.height() < 20.0 {
        return;
    }

    // The gradient, top = largest decade.
    let bands = 64;
    for band in 0..bands {
        let t0 = band as f32 / bands as f32;
        let t1 = (band + 1) as f32 / bands as f32;
        let band_rect = Rect::from_min_max(
            pos2(strip.left(), strip.bottom() - t1 * strip.height()),
            pos2(strip.right(), strip.bottom() - t0 * strip.height() + 0.5),
        );
        painter.rect_filled(
            band_rect,
            0.0,
            theme::rgb(gradient_rgb(f64::from((t0 + t1) / 2.0))),
        );
    }
    painter.rect_stroke(
        strip,
        0.0,
        Stroke::new(1.0, text_color),
        StrokeKind::Outside,
    );

    // Ticks thinned so that labels never overlap.
    let max_ticks = (strip.height() / 14.0).floor().max(2.0) as usize;
    for (value, label) in range.ticks(max_ticks) {
        let y = strip.bottom() - range.position(value) as f32 * strip.height();
        painter.line_segment(
            [pos2(strip.right(), y), pos2(strip.right() + 4.0, y)],
            Stroke::new(1.0, text_color),
        );
        painter.text(
            pos2(strip.right() + 6.0, y),
            Align2::LEFT_CENTER,
            label,
            small.clone(),
            text_color,
        );
    }

    // The colours outside the scale.
    // Exact zeros have a colour of their own only where the scale is logarithmic.
    if !show_legend {
        return;
    }
    let mut legend = vec![("NaN", theme::nan_color()), ("±Inf", theme::inf_color())];
    if range.scale == Scale::Log {
        legend.push(("exact 0", theme::zero_color()));
    }
    legend.push(("no data", theme::missing_color()));
    for (row, (label, color)) in legend.into_iter().enumerate() {
        let top = rect.bottom() - legend_height + row as f32 * 18.0;
        let swatch = Rect::from_min_size(
            pos2(strip.left(), top),
            vec2(theme::COLOR_BAR_STRIP_WIDTH, 12.0),
        );
        painter.rect_filled(swatch, 0.0, color);
        painter.rect_stroke(
            swatch,
            0.0,
            Stroke::new(1.0, theme::MUTED_TEXT_COLOR),
            StrokeKind::Outside,
        );
        painter.text(
            pos2(swatch.right() + 6.0, swatch.center().y),
            Align2::LEFT_CENTER,
            label,
            small.clone(),
            text_color,
        );
    }
}
