//! Sessions on disk: the runs of an experiment with their configuration and history,
//! as versioned JSON written atomically.

mod atomic;
pub mod nonfinite;
mod sweep;

pub use atomic::{write_atomic, write_atomic_with};
pub use sweep::{PendingRun, SavedSweep};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::Config;
use crate::history::RunHistory;
use crate::train::LayerMetric;
use crate::train::checkpoint::{Checkpoint, TrainerState, tensors_from_bytes, tensors_to_bytes};

/// The session format this build writes and the newest it reads.
pub const SCHEMA_VERSION: u32 = 3;

/// The format of sessions whose histories are all exact (every format-1 file is one):
/// such sessions are still written as format 1, the same document as before, so that
/// older builds read them.
pub const EXACT_SCHEMA_VERSION: u32 = 1;

/// The first format with summarised histories (a `summarised` object in a run's
/// history, for a run longer than its history keeps exactly).
pub const SUMMARISED_SCHEMA_VERSION: u32 = 2;

/// The first format that keeps a queued sweep (a `sweep` object beside `runs`). Older
/// builds refuse any field they do not know, so only a session with a sweep is written
/// in it: they then say that a newer build wrote the file.
pub const SWEEP_SCHEMA_VERSION: u32 = 3;

/// The first format whose summarised histories keep their first step exactly (a
/// `first_step_layers` object in `summarised`), the profile at initialisation that the
/// theory line is drawn against. Every summarised history this build writes has it.
pub const FIRST_STEP_SCHEMA_VERSION: u32 = 3;

/// Sessions larger than this are refused before they are read.
pub const MAX_SESSION_BYTES: u64 = 512 * 1024 * 1024;

/// A session holds at most this many runs (far more than a screen can compare).
pub const MAX_RUNS: usize = 1000;

/// Why a session could not be saved or loaded.
#[derive(Debug, Error)]
pub enum SessionError {
    // The I/O error is part of the message and deliberately not a `source`, so that an
    // error chain printed in full does not say it twice.
    #[error("could not read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("could not write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
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
    /// The sweep that was queued, with the runs still waiting; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SavedSweep>,
}

/// One run: how it was configured, what it recorded and, if it can be continued, where
/// its training state is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedRun {
    pub name: String,
    pub config: Config,
    pub history: RunHistory,
    #[serde(default)]
    pub checkpoint: Option<CheckpointRef>,
}

/// Where a run's tensors are (a safetensors file beside the session, named by its
/// checksum so that a new save never overwrites the file an older session points at),
/// and the rest of its training state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    /// A file name in the session's folder; never a path.
    pub sidecar: String,
    pub bytes: u64,
    pub crc32: u32,
    pub state: TrainerState,
}

/// What was on screen. Every field has a default, so that files written before a field
/// existed still load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViewState {
    /// The run shown alone (index into `runs`).
    pub selected_run: usize,
    pub heatmap_metric: LayerMetric,
    /// The step range of a zoomed heatmap; absent while it follows the newest step.
    pub heatmap_steps: Option<[f64; 2]>,
    /// The runs picked for the comparison view (indices into `runs`, in order); absent
    /// for every run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared_runs: Option<Vec<usize>>,
    /// True when the comparison view was on screen rather than the selected run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub comparing: bool,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            selected_run: 0,
            heatmap_metric: LayerMetric::WeightGradNorm,
            heatmap_steps: None,
            compared_runs: None,
            comparing: false,
        }
    }
}

impl ViewState {
    /// Whether run `index` is shown in the comparison view.
    pub fn is_compared(&self, index: usize) -> bool {
        self.compared_runs
            .as_ref()
            .is_none_or(|runs| runs.contains(&index))
    }
}

impl Session {
    pub fn new(runs: Vec<SavedRun>) -> Self {
        Self {
            schema_version: EXACT_SCHEMA_VERSION,
            runs,
            view: ViewState::default(),
            sweep: None,
        }
    }

    /// Writes the session with the training state of every run that has one in
    /// `checkpoints` (by run index): each sidecar first, then the JSON, each atomically;
    /// then sidecars of this session that nothing points at any more are removed.
    pub fn save_with_checkpoints(
        &mut self,
        path: &Path,
        checkpoints: &[Option<&Checkpoint>],
    ) -> Result<(), SessionError> {
        let write_error = |error| SessionError::Write {
            path: path.to_owned(),
            error,
        };
        let folder = session_folder(path);
        let stem = sidecar_stem(path);
        for (index, (run, checkpoint)) in self.runs.iter_mut().zip(checkpoints).enumerate() {
            let Some(checkpoint) = checkpoint else {
                continue;
            };
            let bytes = tensors_to_bytes(&checkpoint.tensors)
                .map_err(|e| write_error(std::io::Error::other(e)))?;
            let crc32 = crc32fast::hash(&bytes);
            let sidecar = format!("{stem}.run{}.{crc32:08x}.safetensors", index + 1);
            write_atomic(&folder.join(&sidecar), &bytes).map_err(write_error)?;
            run.checkpoint = Some(CheckpointRef {
                sidecar,
                bytes: bytes.len() as u64,
                crc32,
                state: checkpoint.state.clone(),
            });
        }
        self.save(path)?;
        self.remove_stale_sidecars(&folder, &stem);
        Ok(())
    }

    fn remove_stale_sidecars(&self, folder: &Path, stem: &str) {
        let Ok(entries) = std::fs::read_dir(folder) else {
            return;
        };
        let prefix = format!("{stem}.run");
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with(&prefix) && name.ends_with(".safetensors");
            let referenced = self
                .runs
                .iter()
                .any(|r| r.checkpoint.as_ref().is_some_and(|c| c.sidecar == name));
            if ours
                && !referenced
                && let Err(err) = std::fs::remove_file(entry.path())
            {
                log::warn!("could not remove the old sidecar {name}: {err}");
            }
        }
    }

    /// The format this session must be written in: the oldest that holds it.
    pub fn needed_version(&self) -> u32 {
        if self.sweep.is_some() {
            SWEEP_SCHEMA_VERSION
        } else if self.runs.iter().any(|r| r.history.keeps_first_step()) {
            FIRST_STEP_SCHEMA_VERSION
        } else if self.runs.iter().any(|r| r.history.is_summarised()) {
            SUMMARISED_SCHEMA_VERSION
        } else {
            EXACT_SCHEMA_VERSION
        }
    }

    /// Writes the session as pretty JSON, atomically, in the oldest format that holds
    /// it.
    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        /// The session as written, with the format version it needs.
        #[derive(Serialize)]
        struct Written<'a> {
            schema_version: u32,
            runs: &'a [SavedRun],
            view: &'a ViewState,
            #[serde(skip_serializing_if = "Option::is_none")]
            sweep: Option<&'a SavedSweep>,
        }
        let written = Written {
            schema_version: self.needed_version(),
            runs: &self.runs,
            view: &self.view,
            sweep: self.sweep.as_ref(),
        };
        // Compact: indenting puts every number of a long history on a line of its own,
        // which made files several times larger and slower to write and read.
        // Streamed into the file: a long run's session is hundreds of MB of JSON.
        write_atomic_with(path, |out| {
            serde_json::to_writer(out, &written).map_err(std::io::Error::other)
        })
        .map_err(|error| SessionError::Write {
            path: path.to_owned(),
            error,
        })
    }

    /// Reads and checks a session file without its training state: enough to show or
    /// export what it recorded, even where the sidecars did not come along.
    pub fn load_without_state(path: &Path) -> Result<Self, SessionError> {
        Self::load_json(path)
    }

    /// Reads and checks a session file and its sidecars. See [`Self::load_with_checkpoints`].
    pub fn load(path: &Path) -> Result<Self, SessionError> {
        Self::load_with_checkpoints(path).map(|(session, _)| session)
    }

    /// Reads and checks a session file and the training state of each run. Nothing is
    /// trusted: sizes, version, shape, configuration ranges, history lengths, sidecar
    /// names (which must stay in the session's folder), lengths and checksums.
    pub fn load_with_checkpoints(
        path: &Path,
    ) -> Result<(Self, Vec<Option<Checkpoint>>), SessionError> {
        let session = Self::load_json(path)?;
        let folder = session_folder(path);
        let mut checkpoints = Vec::with_capacity(session.runs.len());
        for (index, run) in session.runs.iter().enumerate() {
            let malformed = |reason: String| SessionError::Malformed {
                path: path.to_owned(),
                reason: format!("run {}: {reason}", index + 1),
            };
            let Some(reference) = &run.checkpoint else {
                checkpoints.push(None);
                continue;
            };
            let tensors = read_sidecar(&folder, reference).map_err(malformed)?;
            checkpoints.push(Some(Checkpoint {
                state: reference.state.clone(),
                tensors,
            }));
        }
        Ok((session, checkpoints))
    }

    fn load_json(path: &Path) -> Result<Self, SessionError> {
        let read_error = |error| SessionError::Read {
            path: path.to_owned(),
            error,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        if size > MAX_SESSION_BYTES {
            return Err(SessionError::TooLarge {
                path: path.to_owned(),
                size,
            });
        }
        let text = std::fs::read_to_string(path).map_err(|error| SessionError::Read {
            path: path.to_owned(),
            error,
        })?;
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
        let header: Header = serde_json::from_str(text).map_err(|e| {
            LoadProblem::Malformed(match e.classify() {
                serde_json::error::Category::Eof => {
                    format!("the file ends too early; it was cut short ({e})")
                }
                serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
                    format!("not valid JSON ({e})")
                }
                serde_json::error::Category::Data => format!("no schema_version ({e})"),
            })
        })?;
        if header.schema_version > SCHEMA_VERSION {
            return Err(LoadProblem::Newer(header.schema_version));
        }
        if header.schema_version == 0 {
            return Err(LoadProblem::Malformed(
                "schema_version 0 has never existed; formats start at 1".into(),
            ));
        }

        let session: Self =
            serde_json::from_str(text).map_err(|e| LoadProblem::Malformed(data_problem(&e)))?;
        let needed = session.needed_version();
        if needed > session.schema_version {
            let what = if session.sweep.is_some() {
                "a queued sweep"
            } else if session.runs.iter().any(|r| r.history.keeps_first_step()) {
                "summarised histories that keep their first step"
            } else {
                "summarised histories"
            };
            return Err(LoadProblem::Malformed(format!(
                "it has {what}, which session format {} does not; format {needed} does",
                session.schema_version
            )));
        }
        // Format 1 is format 2 without summaries, and format 2 is format 3 without a
        // sweep or first steps: neither needs a migration.
        if session.runs.len() > MAX_RUNS {
            return Err(LoadProblem::Malformed(format!(
                "it holds {} runs; a session holds at most {MAX_RUNS}",
                session.runs.len()
            )));
        }
        if let Some(index) = session
            .view
            .compared_runs
            .iter()
            .flatten()
            .find(|&&index| index >= session.runs.len())
        {
            return Err(LoadProblem::Malformed(format!(
                "the compared run {} does not exist; the session has {} runs",
                index + 1,
                session.runs.len()
            )));
        }
        if session.view.selected_run >= session.runs.len().max(1) {
            return Err(LoadProblem::Malformed(format!(
                "the selected run {} does not exist; the session has {} runs",
                session.view.selected_run + 1,
                session.runs.len()
            )));
        }
        if let Some(sweep) = &session.sweep {
            sweep
                .check_started(session.runs.len())
                .map_err(LoadProblem::Malformed)?;
        }
        if let Some([low, high]) = session.view.heatmap_steps
            && !(low.is_finite() && high.is_finite() && low < high)
        {
            return Err(LoadProblem::Malformed(format!(
                "the saved heatmap zoom {low}..{high} is not a range of steps"
            )));
        }
        for (index, run) in session.runs.iter().enumerate() {
            let problem =
                |what: String| LoadProblem::Malformed(format!("run {}: {what}", index + 1));
            run.config.validate().map_err(|e| problem(e.to_string()))?;
            run.history.check().map_err(problem)?;
            if let Some(checkpoint) = &run.checkpoint {
                let at = checkpoint.state.steps_done;
                if at != run.history.last_step() {
                    return Err(problem(format!(
                        "its training state is at step {at} but its history ends at step {}",
                        run.history.last_step()
                    )));
                }
            }
        }
        Ok(session)
    }
}

/// The folder a session file lives in (its sidecars live there too).
fn session_folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The session file's name without `.json`, the prefix of its sidecars' names.
fn sidecar_stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || "session".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Reads and checks one run's sidecar.
fn read_sidecar(
    folder: &Path,
    reference: &CheckpointRef,
) -> Result<std::collections::HashMap<String, candle_core::Tensor>, String> {
    let name = &reference.sidecar;
    let plain_name = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && Path::new(name)
            .file_name()
            .is_some_and(|n| n == name.as_str());
    if !plain_name {
        return Err(format!(
            "the sidecar `{name}` is not a file name in the session's folder"
        ));
    }
    let path = folder.join(name);
    let size = std::fs::metadata(&path)
        .map_err(|e| format!("the sidecar {} cannot be read: {e}", path.display()))?
        .len();
    if size != reference.bytes || size > MAX_SESSION_BYTES {
        return Err(format!(
            "the sidecar {} is {size} bytes; the session expects {}",
            path.display(),
            reference.bytes
        ));
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("the sidecar {} cannot be read: {e}", path.display()))?;
    if crc32fast::hash(&bytes) != reference.crc32 {
        return Err(format!(
            "the sidecar {} is damaged (checksum mismatch)",
            path.display()
        ));
    }
    tensors_from_bytes(&bytes)
        .map_err(|e| format!("the sidecar {} is not a tensor file: {e}", path.display()))
}

/// What is wrong with a file's data. A problem in the sweep part names its field, and
/// the place serde adds (the end of the sweep, not the field) would only mislead.
fn data_problem(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&position) {
        Some(plain) if plain.starts_with("the sweep") => plain.to_owned(),
        _ => message,
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
            ..StepRecord::default()
        });
        Session::new(vec![SavedRun {
            name: "run 1".into(),
            config: Config::default(),
            history,
            checkpoint: None,
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
    fn a_file_from_before_the_comparison_view_loads_with_every_run_compared()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("old.json");
        let mut tree = serde_json::to_value(sample_session())?;
        // The view as older builds wrote it: no compared runs, no comparing flag.
        tree["view"] = serde_json::json!({
            "selected_run": 0,
            "heatmap_metric": "activation_grad_norm",
            "heatmap_steps": [1.0, 5.0]
        });
        std::fs::write(&path, serde_json::to_string(&tree)?)?;

        let loaded = Session::load(&path)?;
        assert_eq!(loaded.view.heatmap_metric, LayerMetric::ActivationGradNorm);
        assert_eq!(loaded.view.heatmap_steps, Some([1.0, 5.0]));
        assert_eq!(loaded.view.compared_runs, None);
        assert!(!loaded.view.comparing);
        assert!(loaded.view.is_compared(0));
        Ok(())
    }

    #[test]
    fn the_comparison_view_round_trips_and_bad_indices_are_refused()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.json");
        let mut session = sample_session();
        session.runs.push(session.runs[0].clone());
        session.runs[1].name = "deeper".into();
        session.view.selected_run = 1;
        session.view.compared_runs = Some(vec![1]);
        session.view.comparing = true;
        session.save(&path)?;
        let loaded = Session::load(&path)?;
        assert_eq!(loaded.view, session.view);
        assert_eq!(loaded.runs[1].name, "deeper");
        assert!(!loaded.view.is_compared(0) && loaded.view.is_compared(1));

        session.view.compared_runs = Some(vec![0, 2]);
        session.save(&path)?;
        let message = Session::load(&path).map(|_| ()).unwrap_err().to_string();
        assert!(
            message.contains("compared run 3 does not exist"),
            "{message}"
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

    /// A session whose one run of 3 layers outgrew a small budget: 600 steps, of which
    /// the oldest are summarised.
    fn summarised_session() -> Session {
        let budget = crate::history::HistoryBudget::new(40, 8);
        let mut history = RunHistory::new(3).with_budget(budget);
        for step in 1..=600u64 {
            let value = if step == 77 {
                f64::NAN
            } else {
                1e-3 * step as f64
            };
            history.push(&StepRecord {
                loss: value,
                accuracy: 0.5,
                test_accuracy: step.is_multiple_of(50).then_some(0.5),
                lr: 0.1,
                grad_norm_total: 1.0,
                grad_norm_clipped: 1.0,
                ..StepRecord::every_mlp_metric(step, &[value, 2.0 * value, 0.0])
            });
        }
        assert!(history.is_summarised());
        Session::new(vec![SavedRun {
            name: "long".into(),
            config: Config::default(),
            history,
            checkpoint: None,
        }])
    }

    #[test]
    fn a_summarised_session_is_format_3_and_round_trips() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("long.json");
        let session = summarised_session();
        session.save(&path)?;
        let written = std::fs::read_to_string(&path)?;
        let tree: serde_json::Value = serde_json::from_str(&written)?;
        assert_eq!(tree["schema_version"], 3);
        let summarised = &tree["runs"][0]["history"]["summarised"];
        assert!(summarised.is_object());
        assert!(summarised["first_step_layers"]["weight_grad_norm"].is_array());

        let loaded = Session::load(&path)?;
        assert!(loaded.runs[0].history == session.runs[0].history);
        let history = &loaded.runs[0].history;
        // The NaN of step 77 is in the summary of the first 100 steps.
        let first = history.summarize(LayerMetric::WeightGradNorm, 0, 0..100);
        assert_eq!(
            (first.nan_count, first.count),
            (1, history.covered(0..100).len())
        );
        assert_eq!(
            history.first_layer_values(LayerMetric::WeightGradNorm),
            session.runs[0]
                .history
                .first_layer_values(LayerMetric::WeightGradNorm)
        );
        loaded.save(&path)?;
        assert_eq!(std::fs::read_to_string(&path)?, written);

        // A file that claims format 2 or 1 but keeps the first step is refused.
        for older in [1, 2] {
            let downgraded = written.replacen(
                "\"schema_version\":3",
                &format!("\"schema_version\":{older}"),
                1,
            );
            std::fs::write(&path, downgraded)?;
            let message = Session::load(&path).map(|_| ()).unwrap_err().to_string();
            assert!(
                message.contains("first step") && message.contains("format 3"),
                "{message}"
            );
        }

        // Format 2, as the build before wrote it (no first step), still loads, without
        // the first step, and is written back as it was.
        let mut tree = tree;
        tree["schema_version"] = 2.into();
        if let Some(summarised) = tree["runs"][0]["history"]["summarised"].as_object_mut() {
            summarised.remove("first_step_layers");
        }
        let format_2 = serde_json::to_string(&tree)?;
        std::fs::write(&path, &format_2)?;
        let loaded = Session::load(&path)?;
        let history = &loaded.runs[0].history;
        assert!(history.is_summarised() && !history.keeps_first_step());
        assert!(
            history
                .first_layer_values(LayerMetric::WeightGradNorm)
                .is_empty()
        );
        loaded.save(&path)?;
        let rewritten: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        // Not `assert_eq!`: a failure would print every value.
        assert!(
            rewritten == tree,
            "a format-2 session is not written back as it was"
        );

        // A format-2 file claiming format 1 is refused, naming format 2.
        std::fs::write(
            &path,
            format_2.replacen("\"schema_version\":2", "\"schema_version\":1", 1),
        )?;
        let message = Session::load(&path).map(|_| ()).unwrap_err().to_string();
        assert!(message.contains("format 2"), "{message}");
        Ok(())
    }

    #[test]
    fn a_format_1_file_loads_and_is_written_back_as_it_was()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("old.json");
        let config = serde_json::to_string(&Config::default())?;
        // Written by hand the way format 1 has always been (README, "Session format").
        let old = format!(
            r#"{{"schema_version": 1, "runs": [{{"name": "run 1", "config": {config},
              "history": {{"num_layers": 2, "first_step": 1,
                "loss": [2.5, "NaN"], "accuracy": [0.5, 0.25], "lr": [0.1, 0.1],
                "grad_norm_total": [1.0, "inf"], "grad_norm_clipped": [1.0, 1.0],
                "test_accuracy": [[2, 0.75]],
                "layers": {{"weight_grad_norm": [1e-30, 2.0, 3.0, 4.0],
                            "activation_grad_norm": [1.0, 2.0, 3.0, 4.0],
                            "update_ratio": [0.0, 2.0, 3.0, "-inf"],
                            "saturated_fraction": [0.5, 0.5, 0.5, 0.5],
                            "dead_fraction": [0.0, 0.0, 0.0, 0.0],
                            "activation_mean": [1.0, 2.0, 3.0, 4.0],
                            "activation_std": [1.0, 2.0, 3.0, 4.0]}},
                "prelu_slope": [] }}, "checkpoint": null }}],
              "view": {{"selected_run": 0, "heatmap_metric": "weight_grad_norm",
                        "heatmap_steps": null}} }}"#
        );
        std::fs::write(&path, &old)?;
        let loaded = Session::load(&path)?;
        assert_eq!(loaded.schema_version, 1);
        let history = &loaded.runs[0].history;
        assert!(!history.is_summarised());
        assert_eq!(history.len(), 2);
        assert_eq!(
            history.layer_values(LayerMetric::WeightGradNorm, 0),
            [1e-30, 2.0]
        );
        assert_eq!(
            history.layer_values(LayerMetric::UpdateRatio, 1)[1],
            f64::NEG_INFINITY
        );
        assert!(history.loss()[1].is_nan());

        // Written back: the same document, still format 1, and stable from then on.
        loaded.save(&path)?;
        let written = std::fs::read_to_string(&path)?;
        let as_read: serde_json::Value = serde_json::from_str(&old)?;
        let as_written: serde_json::Value = serde_json::from_str(&written)?;
        assert_eq!(as_written, as_read);
        Session::load(&path)?.save(&path)?;
        assert_eq!(std::fs::read_to_string(&path)?, written);
        Ok(())
    }
}
