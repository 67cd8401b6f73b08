//! The gradient heatmap: layers (or time steps, gates, weight matrices) × training
//! steps, colour = log10 of the value.
//!
//! The image lives in a texture of fixed width. Each frame only the columns that
//! changed are uploaded; when a run outgrows the texture, every column starts to
//! stand for twice as many steps (a summary that keeps NaN, Inf and the extremes) and
//! the texture is rebuilt once. A new decade in the data also rebuilds it once.

use egui::{Color32, ColorImage, TextureHandle, TextureOptions, Vec2b};
use egui_plot::{GridInput, GridMark, Plot, PlotImage, PlotPoint};

use super::theme;
use crate::colormap::cell_rgb;
use crate::config::Config;
use crate::history::{ColorRange, DisplayValue, RunHistory, nice_step};
use crate::train::rows::{RowKind, row_name};
use crate::train::{LayerMetric, Scale};

/// Texture columns; a longer run puts several steps in one column.
const TEXTURE_COLUMNS: usize = 2048;

/// What the texture currently shows, so that only what changed is redrawn.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    run_id: u64,
    metric: LayerMetric,
    num_layers: usize,
    steps_per_column: usize,
    range: ColorRange,
}

/// The heatmap's runtime state: the texture and how much of it is filled.
#[derive(Default)]
pub struct HeatmapView {
    /// Tells this heatmap's plot and texture apart from another one's on screen.
    id: &'static str,
    texture: Option<TextureHandle>,
    layout: Option<Layout>,
    /// Columns whose every step was recorded when they were drawn.
    complete_columns: usize,
    /// Steps of the history when the texture was last brought up to date.
    drawn_steps: usize,
    /// Set when the user asks to follow the newest step again.
    reset_view: bool,
    /// A step range to show on the next frame (from a reopened session).
    pending_steps: Option<[f64; 2]>,
    /// The step range on screen when the user has zoomed or panned; `None` while the
    /// view follows the newest step.
    visible_steps: Option<[f64; 2]>,
    /// A colour range to draw with instead of the run's own: one shared by the runs
    /// of a comparison.
    shared_range: Option<ColorRange>,
    /// What each drawn cell shows, so that a new colour range recolours the texture
    /// without summarising the run again; its columns are those drawn, the last
    /// possibly from a partial range of steps.
    cells: Cells,
}

/// The display values of the drawn columns, column by column, input-side row first.
#[derive(Default)]
struct Cells {
    num_rows: usize,
    values: Vec<DisplayValue>,
}

impl Cells {
    fn new(num_rows: usize) -> Self {
        Self {
            num_rows,
            values: Vec::new(),
        }
    }

    /// Columns drawn.
    fn columns(&self) -> usize {
        self.values.len().checked_div(self.num_rows).unwrap_or(0)
    }

    /// Drops the columns from `column` on, to be drawn again.
    fn truncate(&mut self, column: usize) {
        self.values.truncate(column * self.num_rows);
    }

    /// The pixels of `columns` in `range`'s colours, as a texture image of that width:
    /// texture row 0 is the top, the output side.
    fn image(&self, columns: std::ops::Range<usize>, range: &ColorRange) -> ColorImage {
        let width = columns.len();
        let rows = self.num_rows;
        let mut pixels = vec![Color32::BLACK; width * rows];
        for (x, column) in columns.enumerate() {
            let cells = &self.values[column * rows..(column + 1) * rows];
            for (layer, &value) in cells.iter().enumerate() {
                pixels[(rows - 1 - layer) * width + x] = theme::rgb(cell_rgb(value, range));
            }
        }
        ColorImage::new([width, rows], pixels)
    }
}

/// The heatmap as a plot item, and where its columns fall on the step axis.
pub struct HeatmapImage {
    pub image: PlotImage,
    /// The step axis position of the first column's left edge.
    pub first_x: f64,
    pub steps_per_column: usize,
    pub num_rows: usize,
}

impl HeatmapView {
    /// A heatmap whose plot is known by `id` (each heatmap on screen needs its own).
    pub fn new(id: &'static str) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }

    /// Forget everything, e.g. after a reset.
    pub fn clear(&mut self) {
        *self = Self::new(self.id);
    }

    /// Asks the plot to show the whole run again and keep following it.
    pub fn follow_newest(&mut self) {
        self.reset_view = true;
    }

    /// Shows the steps `range` (a zoom saved with a session), or follows the newest
    /// step for `None`.
    pub fn show_steps(&mut self, range: Option<[f64; 2]>) {
        self.pending_steps = range;
        self.reset_view = range.is_none();
    }

    /// The zoomed step range on screen, `None` while following the newest step.
    pub fn visible_steps(&self) -> Option<[f64; 2]> {
        self.visible_steps
    }

    /// Draws with `range` rather than the run's own colour range (`None`: its own).
    pub fn share_range(&mut self, range: Option<ColorRange>) {
        self.shared_range = range;
    }

    /// The colour range of the data, for the colour bar.
    pub fn range(&self) -> Option<ColorRange> {
        self.layout.map(|l| l.range)
    }

    /// Brings the texture up to date with `history`, uploading only what changed.
    fn sync(
        &mut self,
        ctx: &egui::Context,
        run_id: u64,
        history: &RunHistory,
        metric: LayerMetric,
    ) {
        let num_layers = history.rows(metric);
        if num_layers == 0 {
            return;
        }
        let stale_source = self
            .layout
            .is_none_or(|l| l.run_id != run_id || l.metric != metric || l.num_layers != num_layers);

        // The history keeps the colour range of everything it recorded.
        let scale = metric.scale();
        let range = self
            .shared_range
            .or(history.value_range(metric))
            .unwrap_or(ColorRange::empty(scale));

        let mut steps_per_column = self
            .layout
            .filter(|_| !stale_source)
            .map_or(1, |l| l.steps_per_column);
        // At least as wide as a summary bucket, so that each bucket (a power of two of
        // steps from the first) falls in one column.
        steps_per_column = steps_per_column.max(history.bucket_steps());
        while history.len() > steps_per_column * TEXTURE_COLUMNS {
            steps_per_column *= 2;
        }
        let layout = Layout {
            run_id,
            metric,
            num_layers,
            steps_per_column,
            range,
        };

        // A new colour range alone (a new decade, or another run's in a comparison)
        // recolours what is drawn; anything else draws the texture anew.
        let recolour = self
            .layout
            .is_some_and(|l| l.range != range && Layout { range, ..l } == layout);
        if recolour && self.texture.is_some() {
            let image = self.cells.image(0..self.cells.columns(), &range);
            if let Some(texture) = &mut self.texture
                && image.width() > 0
            {
                texture.set_partial([0, 0], image, TextureOptions::NEAREST);
            }
            self.layout = Some(layout);
        } else if self.layout != Some(layout) || self.texture.is_none() {
            let blank = ColorImage::filled([TEXTURE_COLUMNS, num_layers], theme::missing_color());
            self.texture = Some(ctx.load_texture(self.id, blank, TextureOptions::NEAREST));
            self.layout = Some(layout);
            self.cells = Cells::new(num_layers);
            self.complete_columns = 0;
            self.drawn_steps = 0;
        }
        if history.len() == self.drawn_steps {
            return;
        }

        let needed = history.len().div_ceil(steps_per_column);
        let first = self.complete_columns.min(needed);
        self.cells.truncate(first);
        for column in first..needed {
            let steps = column * steps_per_column..(column + 1) * steps_per_column;
            self.cells.values.extend((0..num_layers).map(|layer| {
                history
                    .summarize(metric, layer, steps.clone())
                    .display(scale)
            }));
        }
        if let Some(texture) = &mut self.texture {
            texture.set_partial(
                [first, 0],
                self.cells.image(first..needed, &range),
                TextureOptions::NEAREST,
            );
        }
        self.drawn_steps = history.len();
        self.complete_columns = history.len() / steps_per_column;
    }

    /// Brings the texture up to date with `history` and returns it as a plot item:
    /// columns along the steps, row 1 at the bottom. `None` before the run has rows.
    pub fn plot_image(
        &mut self,
        ctx: &egui::Context,
        run_id: u64,
        history: &RunHistory,
        metric: LayerMetric,
    ) -> Option<HeatmapImage> {
        self.sync(ctx, run_id, history, metric);
        let (Some(texture), Some(layout)) = (&self.texture, self.layout) else {
            return None;
        };

        let num_layers = layout.num_layers as f64;
        let first_x = history.step_of(0) as f64 - 0.5;
        let columns = self.cells.columns().max(1);
        let width_steps = (columns * layout.steps_per_column) as f64;
        let image = PlotImage::new(
            "heatmap",
            texture.id(),
            PlotPoint::new(first_x + width_steps / 2.0, (num_layers + 1.0) / 2.0),
            [width_steps as f32, num_layers as f32],
        )
        .uv(egui::Rect::from_min_max(
            egui::pos2(0.0, 0.0),
            egui::pos2(columns as f32 / TEXTURE_COLUMNS as f32, 1.0),
        ))
        .allow_hover(false);
        Some(HeatmapImage {
            image,
            first_x,
            steps_per_column: layout.steps_per_column,
            num_rows: layout.num_layers,
        })
    }

    /// Draws the heatmap of `metric` for `history` (recorded by a run of `config`),
    /// `size` points large, and its hover tooltip.
    pub fn heatmap_ui(
        &mut self,
        ui: &mut egui::Ui,
        size: egui::Vec2,
        run_id: u64,
        (config, history): (&Config, &RunHistory),
        metric: LayerMetric,
    ) {
        let Some(HeatmapImage {
            image,
            first_x,
            steps_per_column,
            num_rows,
        }) = self.plot_image(ui.ctx(), run_id, history, metric)
        else {
            return;
        };
        let num_layers = num_rows as f64;

        let rows = RowKind::of(config, metric);
        let mut plot = Plot::new((self.id, "plot"))
            .width(size.x)
            .height(size.y)
            .x_axis_label("training step")
            .y_axis_label(if size.y < 260.0 {
                rows.short_title()
            } else {
                rows.axis_title()
            })
            .link_axis(egui::Id::unique("heatmap-steps"), Vec2b::new(true, false))
            .allow_zoom(Vec2b::new(true, false))
            .allow_drag(Vec2b::new(true, false))
            .allow_scroll(Vec2b::new(true, false))
            .allow_boxed_zoom(false)
            .show_grid(false)
            .set_margin_fraction(egui::vec2(0.0, 0.0))
            .default_y_bounds(0.5, num_layers + 0.5)
            .y_axis_formatter(move |mark, _| row_tick(mark.value, num_rows, rows))
            .x_axis_formatter(|mark, _| step_tick(mark.value))
            .x_grid_spacer(step_marks)
            .show_crosshair(false)
            .label_formatter(|_| None);
        if std::mem::take(&mut self.reset_view) {
            plot = plot.reset();
        }
        let pending = self.pending_steps.take();
        let response = plot.allow_double_click_reset(false).show(ui, |plot_ui| {
            plot_ui.image(image);
            let mut following = plot_ui.auto_bounds().x;
            if let Some([low, high]) = pending {
                plot_ui.set_plot_bounds_x(low..=high);
                following = false;
            }
            plot_ui.set_auto_bounds(Vec2b::new(following, true));
            let bounds = plot_ui.plot_bounds();
            (!following).then(|| [bounds.min()[0], bounds.max()[0]])
        });
        self.visible_steps = response.inner;

        if response.response.double_clicked() {
            self.reset_view = true;
        }
        if let Some(pointer) = response.response.hover_pos() {
            let value = response.transform.value_from_position(pointer);
            let layer = value.y.round();
            let column = (value.x - first_x).floor();
            let in_range = layer >= 1.0
                && layer <= num_layers
                && column >= 0.0
                && (column as usize) < history.len();
            if in_range {
                let text = hover_text(
                    history,
                    metric,
                    &row_name(config, metric, layer as usize - 1),
                    (layer as usize, column as usize),
                    steps_per_column,
                );
                response.response.on_hover_text_at_pointer(text);
            }
        }
    }
}

/// The label of row `value` on the vertical axis: its number, and which end is the
/// output where that matters.
pub(super) fn row_tick(value: f64, num_rows: usize, rows: RowKind) -> String {
    let rounded = value.round();
    if (value - rounded).abs() > 1e-6 || rounded < 1.0 || rounded > num_rows as f64 {
        return String::new();
    }
    let last = rounded as usize == num_rows;
    match rows {
        RowKind::Layer if last => format!("{rounded:.0} (output)"),
        RowKind::WeightMatrix if last => "read-out".to_owned(),
        RowKind::WeightMatrix => {
            let layer = (rounded as usize - 1) / 2 + 1;
            if rounded as usize % 2 == 1 {
                format!("{layer} W_x")
            } else {
                format!("{layer} W_h")
            }
        }
        _ => format!("{rounded:.0}"),
    }
}

/// About this many labelled steps across a plot of training steps.
const STEP_LABELS: f64 = 5.0;

/// Marks on a training-step axis every 1, 2 or 5 times a power of ten steps, about
/// [`STEP_LABELS`] of them: the default marks, powers of ten, can leave a plot (above
/// all the narrow heatmaps of a comparison) with a single label.
pub(super) fn step_marks(input: GridInput) -> Vec<GridMark> {
    let (low, high) = input.bounds;
    let every = nice_step((high - low) / STEP_LABELS).max(1.0);
    let first = (low / every).ceil() as i64;
    let last = (high / every).floor() as i64;
    (first..=last)
        .map(|k| GridMark {
            value: k as f64 * every,
            step_size: every,
        })
        .collect()
}

pub(super) fn step_tick(value: f64) -> String {
    if value < 0.0 || (value - value.round()).abs() > 1e-6 {
        String::new()
    } else {
        format!("{value:.0}")
    }
}

/// Layer, step and exact value under the pointer; for a column that stands for many
/// steps, its range and the smallest, mean and largest value there.
pub(super) fn hover_text(
    history: &RunHistory,
    metric: LayerMetric,
    layer_name: &str,
    (layer, step_index): (usize, usize),
    steps_per_column: usize,
) -> String {
    let exact = history.layer_values(metric, step_index).get(layer - 1);
    if let (1, Some(&value)) = (steps_per_column, exact) {
        return format!(
            "{layer_name}\nstep {}\n{} = {}",
            history.step_of(step_index),
            metric.label(),
            format_value(value)
        );
    }
    let start = step_index / steps_per_column * steps_per_column;
    let columns = start..(start + steps_per_column).min(history.len());
    let summary = history.summarize(metric, layer - 1, columns.clone());
    // A column that starts inside a summary bucket shows that whole bucket.
    let covered = history.covered(columns);
    let (start, end) = (covered.start, covered.end.max(covered.start + 1));
    let summarised = if start < history.exact_start() {
        " (summarised)"
    } else {
        ""
    };
    let mut text = format!(
        "{layer_name}\nsteps {}–{}{summarised}\n{}: min {}, mean {}, max {}",
        history.step_of(start),
        history.step_of(end - 1),
        metric.label(),
        format_value(summary.min),
        format_value(summary.mean),
        format_value(summary.max),
    );
    // On a log scale the colour is the mean of log10, not the mean.
    if metric.scale() == Scale::Log && summary.mean_log10.is_finite() {
        text.push_str(&format!(
            "\ncolour: geometric mean {}",
            format_value(10f64.powf(summary.mean_log10))
        ));
    }
    for (count, what) in [
        (summary.nan_count, "NaN"),
        (summary.inf_count, "Inf"),
        (summary.zero_count, "exact zero"),
    ] {
        if count > 0 {
            text.push_str(&format!("\n{count} × {what}"));
        }
    }
    if summary.display(metric.scale()) == DisplayValue::Missing {
        text.push_str("\nno data");
    }
    text
}

/// A value with four significant digits in scientific notation; NaN and Inf by name.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 {
            "+Inf".into()
        } else {
            "−Inf".into()
        }
    } else if value == 0.0 {
        "0 (exact)".into()
    } else {
        format!("{value:.4e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryBudget;
    use crate::train::StepRecord;

    fn marks(low: f64, high: f64) -> Vec<(f64, f64)> {
        step_marks(GridInput {
            bounds: (low, high),
            base_step_size: 1.0,
        })
        .into_iter()
        .map(|m| (m.value, m.step_size))
        .collect()
    }

    #[test]
    fn step_marks_fall_every_one_two_or_five_times_a_power_of_ten() {
        // 1000 steps: a fifth is 200.
        let values: Vec<f64> = marks(0.5, 1000.5).iter().map(|m| m.0).collect();
        assert_eq!(values, [200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert!(marks(0.5, 1000.5).iter().all(|m| m.1 == 200.0));
        // 3000 steps panned to 600: a fifth is 600, rounded up to 1000.
        let values: Vec<f64> = marks(600.5, 3600.5).iter().map(|m| m.0).collect();
        assert_eq!(values, [1000.0, 2000.0, 3000.0]);
        // A few steps: never less than one step apart.
        let values: Vec<f64> = marks(0.5, 3.5).iter().map(|m| m.0).collect();
        assert_eq!(values, [1.0, 2.0, 3.0]);
    }

    /// A value in a new decade widens the colour range: the columns drawn before keep
    /// their cells and are only recoloured, and the picture is the one a fresh heatmap
    /// of the same run draws.
    #[test]
    fn a_new_decade_recolours_without_summarising_again() {
        let ctx = egui::Context::default();
        let metric = LayerMetric::WeightGradNorm;
        let mut history = RunHistory::new(3).with_budget(HistoryBudget::new(64, 256));
        let push = |history: &mut RunHistory, step: u64, low: f64| {
            let values = [low, 1.0 + (step % 7) as f64, 5.0];
            assert!(history.push(&StepRecord::every_mlp_metric(step, &values)));
        };
        for step in 1..=3_000 {
            push(&mut history, step, 0.1);
        }
        let mut view = HeatmapView::new("kept");
        view.sync(&ctx, 1, &history, metric);
        let Some(before) = view.layout else {
            panic!("drawn")
        };
        let drawn = view.cells.columns();
        assert!(drawn > 10 && view.complete_columns > 1);
        // A marker in the first column, which is complete: a redraw would replace it.
        view.cells.values[0] = DisplayValue::Inf;

        push(&mut history, 3_001, 1e-12);
        view.sync(&ctx, 1, &history, metric);
        let Some(after) = view.layout else {
            panic!("drawn")
        };
        assert_eq!(after.steps_per_column, before.steps_per_column);
        assert_ne!(after.range, before.range, "the range gained decades");
        assert_eq!(
            view.cells.values[0],
            DisplayValue::Inf,
            "column 0 was summarised again"
        );

        let mut fresh = HeatmapView::new("fresh");
        fresh.sync(&ctx, 1, &history, metric);
        view.cells.values[0] = fresh.cells.values[0];
        assert_eq!(fresh.layout, view.layout);
        assert_eq!(view.cells.values, fresh.cells.values);
        let columns = 0..fresh.cells.columns();
        assert_eq!(
            view.cells.image(columns.clone(), &after.range).pixels,
            fresh.cells.image(columns, &after.range).pixels
        );
    }

    /// The tooltip of a column of long-summarised steps still names the NaN, the tiny
    /// and the huge value among them.
    #[test]
    fn a_summarised_column_names_its_extremes() {
        let budget = HistoryBudget::new(100, 8);
        let mut history = RunHistory::new(2).with_budget(budget);
        for step in 1..=5_000u64 {
            let value = match step {
                1_234 => 1e-30,
                2_345 => 1e30,
                3_456 => f64::NAN,
                _ => 0.5,
            };
            history.push(&StepRecord::every_mlp_metric(step, &[0.5, value]));
        }
        assert!(history.exact_start() > 3_456);
        let metric = LayerMetric::WeightGradNorm;
        let per_column = history
            .len()
            .div_ceil(TEXTURE_COLUMNS)
            .max(history.bucket_steps());
        let text = |step: usize| hover_text(&history, metric, "layer 2", (2, step - 1), per_column);
        assert!(text(1_234).contains("min 1.0000e-30"), "{}", text(1_234));
        assert!(text(2_345).contains("max 1.0000e30"), "{}", text(2_345));
        assert!(text(3_456).contains("1 × NaN"), "{}", text(3_456));
        // Every step of the column is counted: its range is the bucket's.
        let start = (3_456 - 1) / per_column * per_column;
        let first = history.step_of(start);
        let expected = format!("steps {first}–{}", first + per_column as u64 - 1);
        assert!(text(3_456).contains(&expected), "{}", text(3_456));
        assert!(text(3_456).contains("(summarised)"), "{}", text(3_456));
        // A column of 0.5 alone: coloured by its geometric mean, 0.5.
        let plain = format!("colour: geometric mean {}", format_value(0.5));
        assert!(text(100).contains(&plain), "{}", text(100));
    }
}
