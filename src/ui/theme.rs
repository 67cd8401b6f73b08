//! Design tokens: every colour and size the app draws with, in one place.

use egui::Color32;

use crate::colormap;

pub const LEFT_PANEL_WIDTH: f32 = 290.0;
pub const CURVES_HEIGHT: f32 = 220.0;
pub const COLOR_BAR_WIDTH: f32 = 92.0;
/// Room between a heatmap and its colour bar for half of the heatmap's last step label,
/// which is centred on the plot's right edge.
pub const COLOR_BAR_GAP: f32 = 18.0;
pub const COLOR_BAR_STRIP_WIDTH: f32 = 18.0;
pub const PROFILE_WIDTH: f32 = 190.0;
pub const DIAGNOSIS_HEIGHT: f32 = 40.0;
pub const RUN_LIST_HEIGHT: f32 = 140.0;
pub const RUN_NAME_WIDTH: f32 = 110.0;
pub const RUN_SWATCH_SIZE: f32 = 12.0;
pub const SWEEP_DIALOG_WIDTH: f32 = 440.0;
/// How far below the window's top edge the sweep dialog opens.
pub const SWEEP_DIALOG_TOP: f32 = 110.0;
pub const SWEEP_FIELD_WIDTH: f32 = 280.0;
pub const SWEEP_KEY_MENU_HEIGHT: f32 = 360.0;
/// How far a step label at a plot's right edge reaches beyond it.
pub const STEP_LABEL_OVERHANG: f32 = 16.0;
/// Heatmaps of a comparison are never drawn shorter than this; the grid scrolls.
pub const COMPARE_MIN_HEATMAP_HEIGHT: f32 = 110.0;

pub const LOSS_COLOR: Color32 = Color32::from_rgb(230, 159, 0);
pub const ACCURACY_COLOR: Color32 = Color32::from_rgb(86, 180, 233);
pub const TEST_ACCURACY_COLOR: Color32 = Color32::from_rgb(0, 158, 115);
pub const PROFILE_COLOR: Color32 = Color32::from_rgb(240, 228, 66);
pub const BASELINE_COLOR: Color32 = Color32::from_gray(170);
pub const SIGMA_COLORS: [Color32; 4] = [
    Color32::from_rgb(204, 121, 167),
    Color32::from_rgb(213, 94, 0),
    Color32::from_rgb(0, 114, 178),
    Color32::from_rgb(86, 180, 233),
];
pub const THEORY_COLOR: Color32 = Color32::from_rgb(204, 121, 167);
pub const THEORY_LINE_WIDTH: f32 = 4.0;
/// The measured profile of step 1, which the theory line predicts.
pub const FIRST_STEP_COLOR: Color32 = Color32::from_gray(230);
pub const HEALTHY_COLOR: Color32 = Color32::from_rgb(0, 180, 130);
pub const ERROR_COLOR: Color32 = Color32::from_rgb(240, 80, 80);
pub const WARNING_COLOR: Color32 = Color32::from_rgb(230, 180, 60);
pub const MUTED_TEXT_COLOR: Color32 = Color32::from_gray(160);
pub const GUIDE_TEXT_COLOR: Color32 = Color32::from_gray(200);
/// The cross that marks the hovered step and layer on every heatmap of a comparison.
pub const HOVER_MARK_COLOR: Color32 = Color32::from_rgb(255, 255, 255);

/// One colour per run in comparisons (Okabe & Ito's palette for colour-blind readers,
/// then greys), repeated beyond its length.
const RUN_COLORS: [Color32; 8] = [
    Color32::from_rgb(230, 159, 0),
    Color32::from_rgb(86, 180, 233),
    Color32::from_rgb(0, 158, 115),
    Color32::from_rgb(240, 228, 66),
    Color32::from_rgb(204, 121, 167),
    Color32::from_rgb(213, 94, 0),
    Color32::from_rgb(0, 114, 178),
    Color32::from_gray(200),
];

/// The colour of the run at `index` in the run list.
/// How many run colours there are before they repeat.
pub const RUN_COLOR_COUNT: usize = RUN_COLORS.len();

pub fn run_color(index: usize) -> Color32 {
    RUN_COLORS[index % RUN_COLORS.len()]
}

pub fn rgb(rgb: [u8; 3]) -> Color32 {
    Color32::from_rgb(rgb[0], rgb[1], rgb[2])
}

pub fn nan_color() -> Color32 {
    rgb(colormap::NAN_RGB)
}

pub fn inf_color() -> Color32 {
    rgb(colormap::INF_RGB)
}

pub fn zero_color() -> Color32 {
    rgb(colormap::ZERO_RGB)
}

pub fn missing_color() -> Color32 {
    rgb(colormap::MISSING_RGB)
}
