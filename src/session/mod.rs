//! Sessions on disk: the runs of an experiment with their configuration and history,
//! as versioned JSON written atomically.

mod atomic;
pub mod nonfinite;

pub use atomic::write_atomic;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::Config;
use crate::history::RunHistory;
use crate::train::LayerMetric;

/// The session format this build writes and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Sessions larger than this are refused before they are read.
pub const MAX_SESSION_BYTES: u64 = 512 * 1024 * 1024;

/// Why a session could not be saved or loaded.
#[derive(Debug, Error)]
pub enum SessionError {
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is {size} bytes, more than a session can be ({MAX_SESSION_BYTES} bytes)")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is not a Gradient Lab session: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "{path} was written by a newer Gradient Lab (session format {found}; this build reads up to {SCHEMA_VERSION})"
    )]
    NewerVersion { path: PathBuf, found: u32 },
}

/// Everything a session keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub schema_version: u32,
    pub runs: Vec<SavedRun>,
    #[serde(default)]
    pub view: ViewState,
}

/// One run: how it was configured and what it recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedRun {
    pub name: String,
    pub config: Config,
    pub history: RunHistory,
}

/// What was on screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViewState {
    pub selected_run: usize,
    pub heatmap_metric: LayerMetric,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            selected_run: 0,
            heatmap_metric: LayerMetric::WeightGradNorm,
        }
    }
}

impl Session {
    pub fn new(runs: Vec<SavedRun>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            runs,
            view: ViewState::default(),
        }
    }

    /// Writes the session as pretty JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| SessionError::Write {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(path, &json).map_err(|source| SessionError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads and checks a session file. Nothing about the file is trusted: its size,
    /// version, shape, configuration ranges and history lengths are all checked.
    pub fn load(path: &Path) -> Result<Self, SessionError> {
        let read_error = |source| SessionError::Read {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        if size > MAX_SESSION_BYTES {
            return Err(SessionError::TooLarge {
                path: path.to_owned(),
                size,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        Self::from_json(&text).map_err(|reason| match reason {
            LoadProblem::Newer(found) => SessionError::NewerVersion {
                path: path.to_owned(),
                found,
            },
            LoadProblem::Malformed(reason) => SessionError::Malformed {
                path: path.to_owned(),
                reason,
            },
        })
    }

    fn from_json(text: &str) -> Result<Self, LoadProblem> {
        #[derive(Deserialize)]
        struct Header {
            schema_version: u32,
        }
        let header: Header = serde_json::from_str(text)
            .map_err(|e| LoadProblem::Malformed(format!("no schema_version ({e})")))?;
        if header.schema_version > SCHEMA_VERSION {
            return Err(LoadProblem::Newer(header.schema_version));
        }

        let session: Self =
            serde_json::from_str(text).map_err(|e| LoadProblem::Malformed(e.to_string()))?;
        for (index, run) in session.runs.iter().enumerate() {
            let problem =
                |what: String| LoadProblem::Malformed(format!("run {}: {what}", index + 1));
            run.config.validate().map_err(|e| problem(e.to_string()))?;
            run.history.check().map_err(problem)?;
        }
        Ok(session)
    }
}

enum LoadProblem {
    Newer(u32),
    Malformed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::StepRecord;

    fn sample_session() -> Session {
        let mut history = RunHistory::new(2);
        history.push(&StepRecord {
            step: 1,
            loss: f64::NAN,
            accuracy: 0.5,
            test_accuracy: Some(0.25),
            lr: 0.1,
            grad_norm_total: f64::INFINITY,
            grad_norm_clipped: 1.0,
            weight_grad_norm: vec![1e-30, f64::INFINITY],
            activation_grad_norm: vec![0.0, 2.0],
            update_ratio: vec![1e-3, f64::NAN],
            saturated_fraction: vec![0.5, 0.0],
            dead_fraction: vec![0.0, 0.0],
            activation_mean: vec![-0.1, 0.2],
            activation_std: vec![1.0, 3.0],
            prelu_slope: vec![0.25],
        });
        Session::new(vec![SavedRun {
            name: "run 1".into(),
            config: Config::default(),
            history,
        }])
    }

    #[test]
    fn round_trip_keeps_everything() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.json");
        let session = sample_session();
        session.save(&path)?;
        let loaded = Session::load(&path)?;
        // NaN != NaN, so compare the JSON each writes.
        assert_eq!(
            serde_json::to_string(&loaded)?,
            serde_json::to_string(&session)?
        );
        Ok(())
    }

    #[test]
    fn newer_version_is_named() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"schema_version": 99, "runs": []}"#)?;
        let message = Session::load(&path).map(|_| ()).unwrap_err().to_string();
        assert!(message.contains("session format 99"), "{message}");
        Ok(())
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.json");
        let good = serde_json::to_string(&sample_session())?;
        let bad_depth = good.replace(r#""depth":20"#, r#""depth":0"#);
        let short_history = good.replace(r#""accuracy":[0.5]"#, r#""accuracy":[]"#);
        for text in [
            "not json",
            &good[..good.len() / 2],
            "[1,2]",
            &bad_depth,
            &short_history,
        ] {
            std::fs::write(&path, text)?;
            let err = Session::load(&path).map(|_| ()).unwrap_err();
            assert!(
                matches!(err, SessionError::Malformed { .. }),
                "{text}: {err}"
            );
        }
        Ok(())
    }
}
