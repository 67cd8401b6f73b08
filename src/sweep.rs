//! Sweeps: one setting varied over a list of values, one run per value, as
//! `gradlab run --sweep key=v1,v2,…` does them. Every value is checked before the first
//! run trains; the runs are then trained one after another, each into a folder of its
//! own, and gathered into one session with figures that compare them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use thiserror::Error;

use crate::config::{Config, ConfigError, apply_override};
use crate::export::{Figure, FigureFormat, FigureSize};
use crate::run::{FIGURE_SIZE, RunOutcome, headline_metric, run_headless};
use crate::session::{SavedRun, Session};
use crate::train::{LayerMetric, StepRecord};

/// Why a sweep was refused before anything trained.
#[derive(Debug, Error, PartialEq)]
pub enum SweepError {
    #[error("--sweep `{0}` is not a sweep: write KEY=V1,V2,…, e.g. --sweep model.depth=5,10,20")]
    Syntax(String),
    #[error(
        "--sweep {key}={values}: a sweep needs at least two values, separated by commas, e.g. --sweep {key}=A,B"
    )]
    TooFewValues { key: String, values: String },
    #[error(
        "--sweep {key}={values}: value {position} is empty; separate the values by single commas"
    )]
    EmptyValue {
        key: String,
        values: String,
        position: usize,
    },
    #[error(
        "--sweep {key}: `{first}` and `{second}` give the same setting; every value must differ"
    )]
    Duplicate {
        key: String,
        first: String,
        second: String,
    },
    #[error("--sweep: {0}")]
    Key(ConfigError),
    // The error is part of the message and deliberately not a `source`, so that an
    // error chain printed in full does not say it twice.
    #[error("--sweep value `{value}` of {key}: {error}")]
    BadValue {
        key: String,
        value: String,
        error: ConfigError,
    },
    /// The settings the sweep starts from are wrong whatever the swept value.
    #[error(transparent)]
    Base(ConfigError),
}

/// A setting and the values it takes, as written on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    key: String,
    values: Vec<String>,
}

/// One run of a sweep: its name (`model.depth=10`), the folder it is written to and its
/// complete, validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRun {
    pub name: String,
    pub folder: String,
    pub config: Config,
}

impl Sweep {
    /// Reads `key=v1,v2,…`. Checks the form only; [`Self::runs`] checks the key and
    /// the values against a configuration.
    pub fn parse(spec: &str) -> Result<Self, SweepError> {
        let Some((key, list)) = spec.split_once('=') else {
            return Err(SweepError::Syntax(spec.to_owned()));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(SweepError::Syntax(spec.to_owned()));
        }
        let values: Vec<String> = list.split(',').map(|v| v.trim().to_owned()).collect();
        if let Some(index) = values.iter().position(String::is_empty)
            && !list.trim().is_empty()
        {
            return Err(SweepError::EmptyValue {
                key: key.to_owned(),
                values: list.trim().to_owned(),
                position: index + 1,
            });
        }
        if values.len() < 2 {
            return Err(SweepError::TooFewValues {
                key: key.to_owned(),
                values: list.trim().to_owned(),
            });
        }
        Ok(Self {
            key: key.to_owned(),
            values,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// The configuration of every run: `base` with the swept value applied last, as a
    /// `--set` would be, then validated. Refuses an unknown key, a value of the wrong
    /// type or out of range, and two values that give the same configuration.
    pub fn runs(&self, base: &Config) -> Result<Vec<SweepRun>, SweepError> {
        let (runs, errors) = self.check(base);
        match errors.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(runs),
        }
    }

    /// Like [`Self::runs`], but goes on past a bad value so that every one is named:
    /// the runs of the good values, and one error per bad value in the order given. An
    /// unknown key or a base that is wrong whatever the value ends the check there.
    pub fn check(&self, base: &Config) -> (Vec<SweepRun>, Vec<SweepError>) {
        let mut runs: Vec<(SweepRun, &str)> = Vec::with_capacity(self.values.len());
        let mut errors = Vec::new();
        for value in &self.values {
            let config = match self.config_for(base, value) {
                Ok(config) => config,
                Err(err @ (SweepError::Key(_) | SweepError::Base(_))) => {
                    errors.push(err);
                    break;
                }
                Err(err) => {
                    errors.push(err);
                    continue;
                }
            };
            if let Some((_, first)) = runs.iter().find(|(run, _)| run.config == config) {
                errors.push(SweepError::Duplicate {
                    key: self.key.clone(),
                    first: (*first).to_owned(),
                    second: value.clone(),
                });
                continue;
            }
            let name = format!("{}={value}", self.key);
            runs.push((
                SweepRun {
                    folder: folder_name(&name),
                    name,
                    config,
                },
                value,
            ));
        }
        (runs.into_iter().map(|(run, _)| run).collect(), errors)
    }

    /// `base` with `value` applied and validated; an error the base has too is not
    /// this value's fault.
    fn config_for(&self, base: &Config, value: &str) -> Result<Config, SweepError> {
        let config =
            apply_override(base, &format!("{}={value}", self.key)).map_err(|err| match err {
                ConfigError::UnknownKey { .. } => SweepError::Key(err),
                error => SweepError::BadValue {
                    key: self.key.clone(),
                    value: value.to_owned(),
                    error,
                },
            })?;
        match config.validate() {
            Ok(()) => Ok(config),
            Err(err) if base.validate().as_ref() == Err(&err) => Err(SweepError::Base(err)),
            Err(err) => Err(SweepError::BadValue {
                key: self.key.clone(),
                value: value.to_owned(),
                error: err,
            }),
        }
    }
}

/// A run's name as a folder name: letters, digits and `. _ - + =` are kept, anything
/// else becomes `_`. Every value a setting accepts is made of the kept characters, so
/// distinct runs keep distinct folders.
pub fn folder_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Running

/// What a sweep reports while it runs.
#[derive(Debug)]
pub enum SweepEvent<'a> {
    /// Run `index` (from 0) of `count` is about to train.
    RunStarted {
        index: usize,
        count: usize,
        run: &'a SweepRun,
    },
    Step(&'a StepRecord),
    RunFinished {
        index: usize,
        outcome: &'a RunOutcome,
    },
}

/// How a whole sweep ended.
#[derive(Debug)]
pub struct SweepOutcome {
    /// The swept setting.
    pub key: String,
    /// Each run's name and how it ended, in the order they were given.
    pub runs: Vec<(String, RunOutcome)>,
    /// The combined session and the comparison figures.
    pub files: Vec<PathBuf>,
}

/// The combined session's file name, and the comparison figures beside it.
pub const SESSION_FILE: &str = "session.json";
pub const COMPARISON_HEATMAPS_FILE: &str = "comparison-heatmaps.png";
pub const COMPARISON_LOSS_FILE: &str = "comparison-loss.png";

/// Trains every run into `out_dir/<folder>/` as `gradlab run` would (a run that
/// diverges stops there and the sweep goes on), then writes `out_dir/session.json`
/// with every run and the comparison figures of their weight-gradient heatmaps (one
/// colour scale) and losses. The combined session holds what the runs recorded; each
/// run's own session, in its folder, holds the training state to continue it.
pub fn run_sweep(
    key: &str,
    runs: &[SweepRun],
    out_dir: &Path,
    mut on_event: impl FnMut(SweepEvent<'_>),
) -> anyhow::Result<SweepOutcome> {
    let mut outcomes = Vec::with_capacity(runs.len());
    for (index, run) in runs.iter().enumerate() {
        on_event(SweepEvent::RunStarted {
            index,
            count: runs.len(),
            run,
        });
        let outcome = run_headless(&run.config, &out_dir.join(&run.folder), |record| {
            on_event(SweepEvent::Step(record));
        })
        .with_context(|| format!("run {}", run.name))?;
        on_event(SweepEvent::RunFinished {
            index,
            outcome: &outcome,
        });
        outcomes.push(outcome);
    }

    let saved: Vec<SavedRun> = runs
        .iter()
        .zip(&outcomes)
        .map(|(run, outcome)| SavedRun {
            name: run.name.clone(),
            config: run.config.clone(),
            history: outcome.history.clone(),
            checkpoint: None,
        })
        .collect();
    let mut session = Session::new(saved);
    if let Some(first) = session.runs.first() {
        session.view.heatmap_metric = headline_metric(&first.history);
    }
    let files = write_comparison(&session, out_dir)?;

    Ok(SweepOutcome {
        key: key.to_owned(),
        runs: runs.iter().map(|r| r.name.clone()).zip(outcomes).collect(),
        files,
    })
}

fn write_comparison(session: &Session, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let session_path = out_dir.join(SESSION_FILE);
    session.save(&session_path)?;

    let (width, height) = FIGURE_SIZE;
    let size = FigureSize::new(width, height, 1.0)?;
    let runs = &session.runs;
    let heatmaps_path = out_dir.join(COMPARISON_HEATMAPS_FILE);
    Figure::ComparisonHeatmaps {
        runs,
        metric: session.view.heatmap_metric,
    }
    .write(FigureFormat::Png, size, &heatmaps_path)?;
    let loss_path = out_dir.join(COMPARISON_LOSS_FILE);
    Figure::ComparisonLoss { runs }.write(FigureFormat::Png, size, &loss_path)?;

    Ok(vec![session_path, heatmaps_path, loss_path])
}

// ---------------------------------------------------------------------------
// Summary

/// The table printed after a sweep: per run the steps taken, the final batch loss, the
/// last test accuracy, layer 1's weight gradient relative to the output layer's at the
/// last step, and the diagnosis; then a line on how many runs diverged.
pub fn summary_table(outcome: &SweepOutcome) -> String {
    let header = [
        "run",
        "steps",
        "final loss",
        "test acc",
        "|dL/dW1| / |dL/dWout|",
        "diagnosis",
    ]
    .map(str::to_owned);
    let mut rows = vec![header];
    for (name, run) in &outcome.runs {
        rows.push(summary_row(name, run));
    }

    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut table = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:width$}"))
            .collect();
        table.push_str(cells.join("  ").trim_end());
        table.push('\n');
    }

    let diverged: Vec<&str> = outcome
        .runs
        .iter()
        .filter(|(_, run)| run.divergence.is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    if diverged.is_empty() {
        table.push_str(&format!(
            "all {} runs of {} finished without diverging\n",
            outcome.runs.len(),
            outcome.key
        ));
    } else {
        table.push_str(&format!(
            "{} of {} runs diverged and stopped early: {}\n",
            diverged.len(),
            outcome.runs.len(),
            diverged.join(", ")
        ));
    }
    table
}

fn summary_row(name: &str, run: &RunOutcome) -> [String; 6] {
    let history = &run.history;
    let steps = if run.divergence.is_some() {
        format!("{} of {}", history.last_step(), run.planned_steps)
    } else {
        history.last_step().to_string()
    };
    let loss = history
        .loss()
        .last()
        .map_or_else(|| "-".to_owned(), |&l| number(l));
    let accuracy = history
        .test_accuracy()
        .last()
        .map_or_else(|| "-".to_owned(), |(_, a)| format!("{:.1}%", a * 100.0));
    let last = history.len().saturating_sub(1);
    let norms = history.layer_values(LayerMetric::WeightGradNorm, last);
    let ratio = match (norms.first(), norms.last()) {
        (Some(first), Some(output)) if (first / output).is_finite() => {
            format!("{:.2e}", first / output)
        }
        // 0/0, ∞/∞ and NaN: the two norms say more than their ratio.
        (Some(first), Some(output)) => format!("{first:.1e} / {output:.1e}"),
        _ => "-".to_owned(),
    };
    let diagnosis = match &run.divergence {
        Some((step, reason)) => format!("diverged at step {step}: {reason}"),
        None => crate::diagnosis::diagnose(history, run.activation)
            .iter()
            .map(|f| {
                let message = f.message();
                message
                    .split(':')
                    .next()
                    .unwrap_or(&message)
                    .trim()
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    [name.to_owned(), steps, loss, accuracy, ratio, diagnosis]
}

/// Four decimals for everyday losses, exponent notation for huge or tiny ones.
fn number(value: f64) -> String {
    if value == 0.0 || !value.is_finite() || (1e-3..1e4).contains(&value.abs()) {
        format!("{value:.4}")
    } else {
        format!("{value:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config::default()
    }

    #[test]
    fn parses_key_and_trimmed_values() -> Result<(), SweepError> {
        let sweep = Sweep::parse("model.depth= 5, 10 ,20")?;
        assert_eq!(sweep.key(), "model.depth");
        assert_eq!(sweep.values(), ["5", "10", "20"]);
        Ok(())
    }

    #[test]
    fn malformed_sweeps_are_named() {
        assert_eq!(
            Sweep::parse("model.depth"),
            Err(SweepError::Syntax("model.depth".into()))
        );
        assert!(matches!(Sweep::parse("=1,2"), Err(SweepError::Syntax(_))));
        assert!(matches!(
            Sweep::parse("model.depth=5"),
            Err(SweepError::TooFewValues { .. })
        ));
        assert!(matches!(
            Sweep::parse("model.depth="),
            Err(SweepError::TooFewValues { .. })
        ));
        assert_eq!(
            Sweep::parse("model.depth=5,,10"),
            Err(SweepError::EmptyValue {
                key: "model.depth".into(),
                values: "5,,10".into(),
                position: 2
            })
        );
    }

    #[test]
    fn each_run_gets_its_value_name_and_folder() -> Result<(), SweepError> {
        let runs = Sweep::parse("model.activation=tanh,relu")?.runs(&base())?;
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["model.activation=tanh", "model.activation=relu"]);
        assert_eq!(runs[1].folder, "model.activation=relu");
        assert_eq!(
            runs[0].config.model.activation,
            crate::config::Activation::Tanh
        );
        assert_eq!(
            runs[1].config.model.activation,
            crate::config::Activation::Relu
        );
        // Everything else is the base's.
        let mut back = runs[1].config.clone();
        back.model.activation = base().model.activation;
        assert_eq!(back, base());
        Ok(())
    }

    #[test]
    fn values_that_give_the_same_setting_are_duplicates() -> Result<(), SweepError> {
        let err = Sweep::parse("train.lr=0.1,0.5,0.10")?
            .runs(&base())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--sweep train.lr: `0.1` and `0.10` give the same setting; every value must differ"
        );
        Ok(())
    }

    #[test]
    fn bad_values_name_key_value_and_what_is_allowed() -> Result<(), SweepError> {
        let message = Sweep::parse("model.depth=5,0")?
            .runs(&base())
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("--sweep value `0` of model.depth: model.depth=0"),
            "{message}"
        );
        assert!(message.contains("1 to 100"), "{message}");

        let message = Sweep::parse("model.activation=tanh,swoosh")?
            .runs(&base())
            .unwrap_err()
            .to_string();
        assert!(message.contains("swoosh"), "{message}");
        assert!(message.contains("leaky_relu"), "{message}");

        let message = Sweep::parse("model.dept=1,2")?
            .runs(&base())
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("--sweep: unknown key `model.dept`"),
            "{message}"
        );
        assert!(message.contains("model.depth"), "{message}");
        Ok(())
    }

    #[test]
    fn a_base_error_is_not_blamed_on_the_sweep() -> Result<(), SweepError> {
        let mut bad_base = base();
        bad_base.model.width = 0;
        let err = Sweep::parse("model.depth=2,3")?
            .runs(&bad_base)
            .unwrap_err();
        assert!(matches!(err, SweepError::Base(_)), "{err:?}");
        assert!(err.to_string().starts_with("model.width=0"), "{err}");
        // A base that is wrong only in the swept key is fine.
        let mut swept_base = base();
        swept_base.model.depth = 0;
        assert_eq!(Sweep::parse("model.depth=2,3")?.runs(&swept_base)?.len(), 2);
        Ok(())
    }

    #[test]
    fn folder_names_keep_safe_characters_only() {
        assert_eq!(folder_name("train.lr=1e-3"), "train.lr=1e-3");
        assert_eq!(folder_name("a/b c\\d:e"), "a_b_c_d_e");
    }

    #[test]
    fn check_names_every_bad_value_and_keeps_the_good_ones() -> Result<(), SweepError> {
        let (runs, errors) = Sweep::parse("model.depth=5,0,many,10,5")?.check(&base());
        let depths: Vec<usize> = runs.iter().map(|r| r.config.model.depth).collect();
        assert_eq!(depths, [5, 10]);
        let named: Vec<(&str, bool)> = errors
            .iter()
            .map(|e| match e {
                SweepError::BadValue { value, .. } => (value.as_str(), false),
                SweepError::Duplicate { second, .. } => (second.as_str(), true),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(named, [("0", false), ("many", false), ("5", true)]);

        // An unknown key is one error, not one per value.
        let (runs, errors) = Sweep::parse("model.dept=1,2,3")?.check(&base());
        assert!(runs.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(matches!(errors[0], SweepError::Key(_)));
        Ok(())
    }
}
