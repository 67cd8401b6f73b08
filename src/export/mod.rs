//! What leaves the lab for other programs and for reports: metrics as CSV and figures
//! drawn without a window, as PNG or SVG, one run at a time or several side by side.

mod bundle;
mod csv;
mod curves;
mod figure;
mod heatmap;
mod layout;
mod legend;
mod style;

pub use crate::history::shared_color_range;
pub use bundle::{ExportError, ExportOptions, export_session};
pub use csv::{CSV_HEADER, metrics_csv, write_metrics_csv};
pub use figure::{Figure, FigureError, FigureFormat, FigureSize, heatmap_png};
