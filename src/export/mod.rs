//! What leaves the lab for other programs and for reports: metrics as CSV and figures
//! drawn without a window.

mod csv;
mod figure;

pub use csv::{CSV_HEADER, metrics_csv};
pub use figure::{FigureError, heatmap_png};
