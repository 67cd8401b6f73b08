//! A whole experiment without a window, as `gradlab run` does it: train (from the start
//! or from a saved session), then write the session with its training state, the
//! metrics and the heatmap figure.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::Config;
use crate::export::{heatmap_png, write_metrics_csv};
use crate::history::RunHistory;
use crate::session::{SavedRun, Session, write_atomic_with};
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
    /// The hidden layers' activation, which the diagnosis needs.
    pub activation: crate::config::Activation,
    /// The step the run was to reach.
    pub planned_steps: u64,
}

/// Trains `config` for its `train.steps`, calling `on_step` after every step, and
/// writes `session.json` (with its training-state sidecar), `metrics.csv` and
/// `heatmap.png` into `out_dir`.
pub fn run_headless(
    config: &Config,
    out_dir: &Path,
    on_step: impl FnMut(&StepRecord),
) -> anyhow::Result<RunOutcome> {
    let trainer = Trainer::new(config)?;
    let history = trainer.new_history();
    train_and_write(trainer, history, "run 1", out_dir, on_step)
}

/// Continues the last continuable run of the session at `session_path` for `steps`
/// more steps and writes the results into `out_dir` as [`run_headless`] does. The
/// steps after the resume are exactly those an uninterrupted run would have taken.
pub fn resume_headless(
    session_path: &Path,
    steps: u64,
    out_dir: &Path,
    on_step: impl FnMut(&StepRecord),
) -> anyhow::Result<RunOutcome> {
    let (session, checkpoints) = Session::load_with_checkpoints(session_path)?;
    let Some((run, checkpoint)) = session
        .runs
        .into_iter()
        .zip(checkpoints)
        .filter_map(|(run, checkpoint)| checkpoint.map(|c| (run, c)))
        .next_back()
    else {
        bail!(
            "{} holds no run that can be continued",
            session_path.display()
        );
    };
    let mut config = run.config;
    config.train.steps = checkpoint.state.steps_done.saturating_add(steps);
    config.validate().context("the continued run")?;
    let trainer = Trainer::from_checkpoint(&config, checkpoint)?;
    train_and_write(trainer, run.history, &run.name, out_dir, on_step)
}

/// The metric a run's figure shows: the gradient across time for a recurrent net, the
/// weight gradient per layer for an MLP.
pub fn headline_metric(history: &RunHistory) -> LayerMetric {
    if history.is_recurrent() {
        LayerMetric::HiddenGradNorm
    } else {
        LayerMetric::WeightGradNorm
    }
}

fn train_and_write(
    mut trainer: Trainer,
    mut history: RunHistory,
    name: &str,
    out_dir: &Path,
    mut on_step: impl FnMut(&StepRecord),
) -> anyhow::Result<RunOutcome> {
    // Before training, so that a long run never ends with nowhere to put its results.
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("could not create the output folder {}", out_dir.display()))?;
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

    let session_path = out_dir.join("session.json");
    let csv_path = out_dir.join("metrics.csv");
    let png_path = out_dir.join("heatmap.png");

    let config = trainer.config().clone();
    let activation = trainer.activation();
    let planned_steps = config.train.steps;
    write_atomic_with(&csv_path, |out| write_metrics_csv(&history, out))
        .with_context(|| format!("could not write {}", csv_path.display()))?;
    heatmap_png(
        &history,
        headline_metric(&history),
        &config.summary(),
        &png_path,
        FIGURE_SIZE,
    )?;
    let checkpoint = trainer.checkpoint()?;
    let mut session = Session::new(vec![SavedRun {
        name: name.to_owned(),
        config,
        history,
        checkpoint: None,
    }]);
    session.save_with_checkpoints(&session_path, &[Some(&checkpoint)])?;

    let mut files = vec![session_path, csv_path, png_path];
    let run = session.runs.swap_remove(0);
    files.extend(run.checkpoint.map(|c| out_dir.join(c.sidecar)));
    Ok(RunOutcome {
        history: run.history,
        divergence,
        files,
        activation,
        planned_steps,
    })
}
