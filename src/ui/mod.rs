//! The egui app.

use std::path::PathBuf;

/// Opens the window.
pub fn run_app(_open: Option<PathBuf>) -> anyhow::Result<()> {
    Ok(())
}
