//! A whole experiment without a window, as `gradlab run` does it: train, then write
//! the session, the metrics and the heatmap figure.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::export::{heatmap_png, metrics_csv};
use crate::history::RunHistory;
use crate::session::{SavedRun, Session, write_atomic};
use crate::train::{LayerMetric, StepRecord, Trainer};

/// Size of the heatmap figure `gradlab run` writes.
pub const FIGURE_SIZE: (u32, u32) = (1400, 800);

/// How a headless run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub history: RunHistory,
    /// Why the run stopped early, if it diverged.
    pub divergence: Option<(u64, String)>,
    pub files: Vec<PathBuf>,
}

/// Trains `config` for its `train.steps`, calling `on_step` after every step, and
/// writes `session.json`, `metrics.csv` and `heatmap.png` into `out_dir`.
pub fn run_headless(
    config: &Config,
    out_dir: &Path,
    mut on_step: impl FnMut(&StepRecord),
) -> anyhow::Result<RunOutcome> {
    let mut trainer = Trainer::new(config)?;
    let mut history = RunHistory::new(trainer.num_layers());
    let mut divergence = None;
    while !trainer.is_finished() {
        let record = trainer.step().context("training step failed")?;
        history.push(&record);
        on_step(&record);
        if let Some(reason) = record.divergence() {
            divergence = Some((record.step, reason));
            break;
        }
    }

    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("could not create {}", out_dir.display()))?;
    let session_path = out_dir.join("session.json");
    let csv_path = out_dir.join("metrics.csv");
    let png_path = out_dir.join("heatmap.png");

    let session = Session::new(vec![SavedRun {
        name: "run 1".into(),
        config: config.clone(),
        history,
    }]);
    session.save(&session_path)?;
    let history = session
        .runs
        .into_iter()
        .next()
        .map(|r| r.history)
        .unwrap_or_default();
    write_atomic(&csv_path, metrics_csv(&history).as_bytes())
        .with_context(|| format!("could not write {}", csv_path.display()))?;
    heatmap_png(
        &history,
        LayerMetric::WeightGradNorm,
        &config.summary(),
        &png_path,
        FIGURE_SIZE,
    )?;

    Ok(RunOutcome {
        history,
        divergence,
        files: vec![session_path, csv_path, png_path],
    })
}
