//! The sweep part of a session: a sweep that was queued when the session was saved, so
//! that opening the file brings its waiting runs back. It is read field by field, so
//! that a bad value is refused with a message that names it and says what is allowed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::MAX_RUNS;
use crate::config::{Config, settable_keys};
use crate::sweep_queue::{MAX_AT_ONCE, QueuedRun, SweepQueue};

/// The fields of the sweep part, in the order they are written.
const FIELDS: [&str; 4] = ["key", "at_once", "pending", "started"];

/// A queued sweep as a session keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct SavedSweep {
    /// The swept setting, as a dotted key.
    pub key: String,
    /// How many of its runs train at the same time: 1 or [`MAX_AT_ONCE`].
    pub at_once: usize,
    /// The runs not started yet, next first.
    pub pending: Vec<PendingRun>,
    /// The session's runs that the sweep started (indices into its `runs`), in the
    /// order they started.
    pub started: Vec<usize>,
}

/// A run of the sweep not started yet: its name and its complete configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PendingRun {
    pub name: String,
    pub config: Config,
}

impl SavedSweep {
    /// The sweep `queue` as a session keeps it; `index_of` gives the place in the
    /// session's runs of a run id, or `None` for a run not saved (one deleted).
    pub fn from_queue(queue: &SweepQueue, index_of: impl Fn(u64) -> Option<usize>) -> Self {
        Self {
            key: queue.key().to_owned(),
            at_once: queue.at_once(),
            pending: queue
                .pending()
                .map(|run| PendingRun {
                    name: run.name.clone(),
                    config: run.config.clone(),
                })
                .collect(),
            started: queue
                .started()
                .iter()
                .filter_map(|&id| index_of(id))
                .collect(),
        }
    }

    /// The queue again, waiting until it is continued; `run_ids` are the ids the
    /// session's runs were given, in the session's order.
    pub fn into_queue(self, run_ids: &[u64]) -> SweepQueue {
        let pending = self
            .pending
            .into_iter()
            .map(|run| QueuedRun {
                name: run.name,
                config: run.config,
            })
            .collect();
        let started = self
            .started
            .iter()
            .filter_map(|&index| run_ids.get(index).copied())
            .collect();
        SweepQueue::restored(self.key, self.at_once, pending, started)
    }

    /// Checks what needs the rest of the session: every started run is one of its
    /// `num_runs` runs, and none is named twice.
    pub(super) fn check_started(&self, num_runs: usize) -> Result<(), String> {
        for (position, &index) in self.started.iter().enumerate() {
            if index >= num_runs {
                return Err(format!(
                    "the sweep's started run {index} does not exist; `started` holds \
                     indices into `runs`, from 0 to {}",
                    num_runs.saturating_sub(1)
                ));
            }
            if self.started[..position].contains(&index) {
                return Err(format!(
                    "the sweep's started run {index} is named twice; each run starts once"
                ));
            }
        }
        Ok(())
    }
}

impl TryFrom<Value> for SavedSweep {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let Value::Object(mut fields) = value else {
            return Err(format!(
                "the sweep must be an object with the fields {}",
                FIELDS.join(", ")
            ));
        };
        if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "the sweep has an unknown field `{unknown}`; its fields are {}",
                FIELDS.join(", ")
            ));
        }
        let key = read_key(&mut fields)?;
        let at_once = read_at_once(&mut fields)?;
        let pending = read_pending(&mut fields)?;
        let started = read_started(&mut fields)?;
        Ok(Self {
            key,
            at_once,
            pending,
            started,
        })
    }
}

/// Takes the field `name` out of the sweep's fields; every field must be there.
fn take(fields: &mut Map<String, Value>, name: &str) -> Result<Value, String> {
    fields
        .remove(name)
        .ok_or_else(|| format!("the sweep has no `{name}`"))
}

fn read_key(fields: &mut Map<String, Value>) -> Result<String, String> {
    let Value::String(key) = take(fields, "key")? else {
        return Err(
            "the sweep's `key` must be a setting's dotted key, e.g. \"model.depth\"".into(),
        );
    };
    if !settable_keys(&Config::default()).contains(&key) {
        return Err(format!(
            "the sweep's `key` \"{key}\" is not a setting; it must be a dotted key such as \
             \"model.depth\" or \"train.lr\""
        ));
    }
    Ok(key)
}

fn read_at_once(fields: &mut Map<String, Value>) -> Result<usize, String> {
    let value = take(fields, "at_once")?;
    match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
        Some(n) if (1..=MAX_AT_ONCE).contains(&n) => Ok(n),
        _ => Err(format!(
            "the sweep's `at_once` is {value}; a sweep trains 1 to {MAX_AT_ONCE} runs at a time"
        )),
    }
}

fn read_pending(fields: &mut Map<String, Value>) -> Result<Vec<PendingRun>, String> {
    let Value::Array(runs) = take(fields, "pending")? else {
        return Err(
            "the sweep's `pending` must be a list of runs, each {\"name\": …, \"config\": …}"
                .into(),
        );
    };
    if runs.len() > MAX_RUNS {
        return Err(format!(
            "the sweep's `pending` holds {} runs; a session holds at most {MAX_RUNS}",
            runs.len()
        ));
    }
    let mut pending = Vec::with_capacity(runs.len());
    for (index, run) in runs.into_iter().enumerate() {
        let problem = |what: String| format!("the sweep's pending run {}: {what}", index + 1);
        let Value::Object(mut run) = run else {
            return Err(problem(
                "must be an object with the fields name and config".into(),
            ));
        };
        if let Some(unknown) = run.keys().find(|k| *k != "name" && *k != "config") {
            return Err(problem(format!(
                "unknown field `{unknown}`; its fields are name and config"
            )));
        }
        let Some(Value::String(name)) = run.remove("name") else {
            return Err(problem("`name` must be a string".into()));
        };
        let Some(config) = run.remove("config") else {
            return Err(problem(format!("{name} has no `config`")));
        };
        let config: Config = serde_json::from_value(config)
            .map_err(|e| problem(format!("the config of {name}: {e}")))?;
        config
            .validate()
            .map_err(|e| problem(format!("the config of {name}: {e}")))?;
        pending.push(PendingRun { name, config });
    }
    Ok(pending)
}

fn read_started(fields: &mut Map<String, Value>) -> Result<Vec<usize>, String> {
    let not_indices = || {
        "the sweep's `started` must be a list of run indices (whole numbers from 0, into \
         `runs`)"
            .to_owned()
    };
    let Value::Array(indices) = take(fields, "started")? else {
        return Err(not_indices());
    };
    indices
        .iter()
        .map(|index| {
            index
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(not_indices)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::RunHistory;
    use crate::session::{SavedRun, Session, SessionError};
    use crate::sweep::Sweep;

    /// A sweep of depth over 5, 10, 40 and 80, two at a time, whose first two runs
    /// started as ids 11 and 12.
    fn started_queue() -> SweepQueue {
        let sweep = Sweep::parse("model.depth=5,10,40,80").expect("a valid sweep");
        let runs = sweep.runs(&Config::default()).expect("valid values");
        let mut queue = SweepQueue::new(&sweep, runs, 2);
        for (queued, id) in queue.due(|_| false).into_iter().zip([11, 12]) {
            assert!(queued.name.starts_with("depth "));
            queue.mark_started(id);
        }
        queue
    }

    /// A session of `names`, each a run with no steps yet.
    fn session_of(names: &[&str]) -> Session {
        let runs = names
            .iter()
            .map(|name| SavedRun {
                name: (*name).to_owned(),
                config: Config::default(),
                history: RunHistory::new(Config::default().model.depth + 1),
                checkpoint: None,
            })
            .collect();
        Session::new(runs)
    }

    #[test]
    fn a_queued_sweep_round_trips_through_a_session_file() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sweep.json");
        let queue = started_queue();
        // The list shows another run first; id 12 is its second run, id 11 its third.
        let mut session = session_of(&["base", "depth 10", "depth 5"]);
        session.sweep = Some(SavedSweep::from_queue(&queue, |id| match id {
            11 => Some(2),
            12 => Some(1),
            _ => None,
        }));
        session.save(&path)?;
        let tree: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        assert_eq!(tree["schema_version"], 3);
        assert_eq!(tree["sweep"]["key"], "model.depth");
        assert_eq!(tree["sweep"]["started"], serde_json::json!([2, 1]));
        assert_eq!(tree["sweep"]["pending"][0]["config"]["model"]["depth"], 40);

        let loaded = Session::load(&path)?;
        assert_eq!(loaded.runs, session.runs);
        assert_eq!(loaded.sweep, session.sweep);
        let saved = loaded.sweep.ok_or("the sweep was not read back")?;
        let mut restored = saved.into_queue(&[101, 102, 103]);
        assert_eq!((restored.key(), restored.at_once()), ("model.depth", 2));
        assert_eq!(restored.started(), [103, 102]);
        let before: Vec<QueuedRun> = queue.pending().cloned().collect();
        let after: Vec<QueuedRun> = restored.pending().cloned().collect();
        assert_eq!(after, before);
        assert_eq!(after.len(), 2);
        assert_eq!(after[1].config.model.depth, 80);

        // It waits: nothing is due and it is not done until it is continued.
        assert!(restored.is_waiting());
        assert!(restored.due(|_| false).is_empty());
        assert!(!restored.is_done(|_| false));
        restored.continue_runs();
        let due: Vec<String> = restored
            .due(|_| false)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(due, ["depth 40", "depth 80"]);
        Ok(())
    }

    #[test]
    fn a_started_run_that_was_deleted_is_left_out() {
        let saved = SavedSweep::from_queue(&started_queue(), |id| (id == 12).then_some(0));
        assert_eq!(saved.started, [0]);
        assert_eq!(saved.pending.len(), 2);
    }

    #[test]
    fn a_session_without_a_sweep_is_written_as_before() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("plain.json");
        let session = session_of(&["run 1"]);
        session.save(&path)?;
        let written = std::fs::read_to_string(&path)?;
        let tree: Value = serde_json::from_str(&written)?;
        let fields: Vec<&String> = tree.as_object().ok_or("not an object")?.keys().collect();
        assert_eq!(fields, ["runs", "schema_version", "view"]);
        assert_eq!(tree["schema_version"], 1);
        assert!(written.starts_with(r#"{"schema_version":1,"runs":[{"name":"run 1","#));
        assert!(Session::load(&path)?.sweep.is_none());
        Ok(())
    }

    /// The message with which a session of two runs and a sweep changed by `change` is
    /// refused; fails if it loads.
    fn refusal(change: impl FnOnce(&mut Value)) -> Result<String, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("bad.json");
        let mut session = session_of(&["depth 5", "depth 10"]);
        session.sweep = Some(SavedSweep::from_queue(&started_queue(), |id| {
            usize::try_from(id - 11).ok()
        }));
        let mut tree = serde_json::to_value(&session)?;
        tree["schema_version"] = 3.into();
        change(&mut tree);
        std::fs::write(&path, serde_json::to_string(&tree)?)?;
        match Session::load(&path) {
            Ok(_) => Err(format!("loaded: {tree}").into()),
            Err(err @ SessionError::Malformed { .. }) => Ok(err.to_string()),
            Err(other) => Err(format!("refused otherwise: {other}").into()),
        }
    }

    #[test]
    fn a_bad_sweep_part_is_refused_naming_the_field_and_what_is_allowed()
    -> Result<(), Box<dyn std::error::Error>> {
        type Change = fn(&mut Value);
        let cases: [(Change, &str); 13] = [
            (
                |t| t["sweep"] = "model.depth".into(),
                "the sweep must be an object with the fields key, at_once, pending, started",
            ),
            (
                |t| t["sweep"]["speed"] = 2.into(),
                "the sweep has an unknown field `speed`; its fields are key, at_once",
            ),
            (
                |t| t["sweep"]["key"] = 7.into(),
                "the sweep's `key` must be a setting's dotted key",
            ),
            (
                |t| t["sweep"]["key"] = "model.dpth".into(),
                "the sweep's `key` \"model.dpth\" is not a setting",
            ),
            (
                |t| t["sweep"]["at_once"] = 3.into(),
                "the sweep's `at_once` is 3; a sweep trains 1 to 2 runs at a time",
            ),
            (
                |t| t["sweep"]["at_once"] = "two".into(),
                "the sweep's `at_once` is \"two\"; a sweep trains 1 to 2",
            ),
            (
                |t| t["sweep"]["pending"][1]["config"]["model"]["depth"] = 0.into(),
                "the sweep's pending run 2: the config of depth 80: model.depth",
            ),
            (
                |t| t["sweep"]["pending"][0]["config"]["model"]["dpth"] = 3.into(),
                "the sweep's pending run 1: the config of depth 40: unknown field `dpth`",
            ),
            (
                |t| t["sweep"]["pending"] = serde_json::json!({"name": "depth 40"}),
                "the sweep's `pending` must be a list of runs",
            ),
            (
                |t| t["sweep"]["started"] = serde_json::json!([0, 2]),
                "the sweep's started run 2 does not exist; `started` holds indices into \
                 `runs`, from 0 to 1",
            ),
            (
                |t| t["sweep"]["started"] = serde_json::json!([1, 1]),
                "the sweep's started run 1 is named twice",
            ),
            (
                |t| t["sweep"]["started"] = serde_json::json!(["depth 5"]),
                "the sweep's `started` must be a list of run indices",
            ),
            (
                |t| t["schema_version"] = 2.into(),
                "it has a queued sweep, which session format 2 does not; format 3 does",
            ),
        ];
        for (change, expected) in cases {
            let message = refusal(change)?;
            assert!(message.contains(expected), "{message}\nlacks: {expected}");
            assert!(!message.contains(" at line "), "{message}");
        }
        Ok(())
    }
}
