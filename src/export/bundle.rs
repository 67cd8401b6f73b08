//! Everything `gradlab export` writes for a saved session: for each run its metrics
//! as CSV, the heatmap of every metric and the loss and accuracy curves; for sessions
//! of several runs, their heatmaps side by side and their losses overlaid.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::csv::write_metrics_csv;
use super::figure::{Figure, FigureError, FigureFormat, FigureSize};
use crate::session::{Session, SessionError, write_atomic_with};

/// What to export and how large.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub size: FigureSize,
    /// Every figure is written once in each of these formats.
    pub formats: Vec<FigureFormat>,
}

/// Why a session could not be exported.
#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0} holds no runs; there is nothing to export")]
    NoRuns(PathBuf),
    #[error("could not create the output folder {path}: {source}")]
    CreateFolder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Figure(#[from] FigureError),
}

/// Reads the session at `session_path` and writes into `out_dir`, for run N (from 1):
/// `runN-metrics.csv`, `runN-heatmap-<metric>.<ext>` for every metric and
/// `runN-curves.<ext>`; with two runs or more also `comparison-heatmaps.<ext>` (of the
/// metric the session was showing) and `comparison-loss.<ext>`. Returns the files
/// written. A session that cannot be read fails before anything is written.
pub fn export_session(
    session_path: &Path,
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<Vec<PathBuf>, ExportError> {
    // Figures need only what was recorded, not the training state beside it.
    let session = Session::load_without_state(session_path)?;
    if session.runs.is_empty() {
        return Err(ExportError::NoRuns(session_path.to_owned()));
    }
    std::fs::create_dir_all(out_dir).map_err(|source| ExportError::CreateFolder {
        path: out_dir.to_owned(),
        source,
    })?;

    let mut files = Vec::new();
    let mut write_figure = |figure: Figure, stem: &str| -> Result<(), ExportError> {
        for &format in &options.formats {
            let path = out_dir.join(format!("{stem}.{}", format.extension()));
            figure.write(format, options.size, &path)?;
            files.push(path);
        }
        Ok(())
    };

    for (index, run) in session.runs.iter().enumerate() {
        let prefix = format!("run{}", index + 1);
        let history = &run.history;
        let caption = format!("{}: {}", run.name, run.config.summary());
        for metric in history.metrics() {
            let figure = Figure::Heatmap {
                history,
                metric,
                caption: &caption,
            };
            write_figure(figure, &format!("{prefix}-heatmap-{}", metric.name()))?;
        }
        let curves = Figure::Curves {
            history,
            caption: &caption,
        };
        write_figure(curves, &format!("{prefix}-curves"))?;
    }
    if session.runs.len() >= 2 {
        let runs = &session.runs;
        let metric = session.view.heatmap_metric;
        write_figure(
            Figure::ComparisonHeatmaps { runs, metric },
            "comparison-heatmaps",
        )?;
        write_figure(Figure::ComparisonLoss { runs }, "comparison-loss")?;
    }

    for (index, run) in session.runs.iter().enumerate() {
        let path = out_dir.join(format!("run{}-metrics.csv", index + 1));
        write_atomic_with(&path, |out| write_metrics_csv(&run.history, out)).map_err(|source| {
            ExportError::Write {
                path: path.clone(),
                source,
            }
        })?;
        files.push(path);
    }
    Ok(files)
}
