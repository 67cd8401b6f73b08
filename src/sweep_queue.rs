//! A sweep queued in the app: one run per value, waiting for its turn. The runs start
//! at most `at_once` at a time; each time one of them ends, the next takes its place.
//! Plain data without a GUI: the app asks every frame which runs are due and says
//! which ids it gave them, and the trainer thread only ever sees ordinary runs.

use std::collections::VecDeque;

use crate::config::{Config, short_key};
use crate::sweep::{Sweep, SweepRun};

/// The most runs of one sweep that train at the same time.
pub const MAX_AT_ONCE: usize = 2;

/// A run of the sweep not started yet.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedRun {
    /// Named after its value, as the run list shows it: `depth 40`.
    pub name: String,
    pub config: Config,
}

/// The runs of one sweep: those still waiting, in the order the values were given, and
/// the ids of those that started.
#[derive(Clone, Debug)]
pub struct SweepQueue {
    key: String,
    at_once: usize,
    pending: VecDeque<QueuedRun>,
    started: Vec<u64>,
    /// Brought back from a session file: nothing starts until [`Self::continue_runs`].
    waiting: bool,
}

impl SweepQueue {
    /// Queues `runs`, the checked runs of `sweep` (one per value, in its order), to
    /// train `at_once` at a time (1 or [`MAX_AT_ONCE`]; other numbers are clamped).
    pub fn new(sweep: &Sweep, runs: Vec<SweepRun>, at_once: usize) -> Self {
        let name = short_key(sweep.key());
        let pending = sweep
            .values()
            .iter()
            .zip(runs)
            .map(|(value, run)| QueuedRun {
                name: format!("{name} {value}"),
                config: run.config,
            })
            .collect();
        Self {
            key: sweep.key().to_owned(),
            at_once: at_once.clamp(1, MAX_AT_ONCE),
            pending,
            started: Vec::new(),
            waiting: false,
        }
    }

    /// A sweep read back from a session: its `pending` runs and the ids of the runs it
    /// `started`, waiting until [`Self::continue_runs`] (opening a session never starts
    /// training by itself). `at_once` is clamped as in [`Self::new`].
    pub fn restored(
        key: String,
        at_once: usize,
        pending: Vec<QueuedRun>,
        started: Vec<u64>,
    ) -> Self {
        Self {
            key,
            at_once: at_once.clamp(1, MAX_AT_ONCE),
            pending: pending.into(),
            started,
            waiting: true,
        }
    }

    /// True while a sweep read from a session waits to be continued.
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Lets a waiting sweep go on: from now on its runs start as those of a sweep
    /// queued in this session would.
    pub fn continue_runs(&mut self) {
        self.waiting = false;
    }

    /// The swept setting, as a dotted key.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn at_once(&self) -> usize {
        self.at_once
    }

    /// The runs still waiting, next first.
    pub fn pending(&self) -> impl Iterator<Item = &QueuedRun> {
        self.pending.iter()
    }

    /// The ids of the runs that started, in the order they started.
    pub fn started(&self) -> &[u64] {
        &self.started
    }

    /// True if `run_id` is one of this sweep's runs.
    pub fn owns(&self, run_id: u64) -> bool {
        self.started.contains(&run_id)
    }

    /// Takes the runs whose turn has come: as many as there are free places, given
    /// which of the sweep's started runs still train (`is_live`). Each must then be
    /// started and its id given to [`Self::mark_started`]. Nothing is due while the
    /// sweep waits.
    pub fn due(&mut self, is_live: impl Fn(u64) -> bool) -> Vec<QueuedRun> {
        if self.waiting {
            return Vec::new();
        }
        let live = self.started.iter().filter(|&&id| is_live(id)).count();
        let free = self.at_once.saturating_sub(live).min(self.pending.len());
        self.pending.drain(..free).collect()
    }

    /// Records that a run taken from [`Self::due`] started as `run_id`.
    pub fn mark_started(&mut self, run_id: u64) {
        self.started.push(run_id);
    }

    /// True once nothing waits and none of the started runs still trains; never while
    /// the sweep waits to be continued.
    pub fn is_done(&self, is_live: impl Fn(u64) -> bool) -> bool {
        !self.waiting && self.pending.is_empty() && !self.started.iter().any(|&id| is_live(id))
    }

    /// Drops every run still waiting and returns them; the started ones are the
    /// caller's to stop or keep.
    pub fn cancel(&mut self) -> Vec<QueuedRun> {
        self.pending.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn queue(spec: &str, at_once: usize) -> SweepQueue {
        let sweep = Sweep::parse(spec).expect("a valid sweep");
        let runs = sweep.runs(&Config::default()).expect("valid values");
        SweepQueue::new(&sweep, runs, at_once)
    }

    fn names(runs: &[QueuedRun]) -> Vec<&str> {
        runs.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn one_at_a_time_starts_the_next_only_when_the_last_has_ended() {
        let mut queue = queue("model.depth=5,10,40", 1);
        let mut live = BTreeSet::new();

        let first = queue.due(|id| live.contains(&id));
        assert_eq!(names(&first), ["depth 5"]);
        assert_eq!(first[0].config.model.depth, 5);
        queue.mark_started(11);
        live.insert(11);
        // While it trains, nothing else is due, however often the app asks.
        assert!(queue.due(|id| live.contains(&id)).is_empty());
        assert!(queue.due(|id| live.contains(&id)).is_empty());
        let waiting: Vec<&str> = queue.pending().map(|r| r.name.as_str()).collect();
        assert_eq!(waiting, ["depth 10", "depth 40"]);

        live.remove(&11);
        let second = queue.due(|id| live.contains(&id));
        assert_eq!(names(&second), ["depth 10"]);
        assert_eq!(second[0].config.model.depth, 10);
        queue.mark_started(12);
        live.insert(12);
        assert!(!queue.is_done(|id| live.contains(&id)));

        live.remove(&12);
        let third = queue.due(|id| live.contains(&id));
        assert_eq!(third[0].config.model.depth, 40);
        queue.mark_started(13);
        assert_eq!(queue.started(), [11, 12, 13]);
        assert!(queue.owns(12) && !queue.owns(14));
        assert!(!queue.is_done(|id| id == 13));
        assert!(queue.is_done(|_| false));
    }

    #[test]
    fn two_at_a_time_keeps_two_training_while_runs_wait() {
        let mut queue = queue("model.activation=sigmoid,tanh,relu", 2);
        let first = queue.due(|_| false);
        assert_eq!(names(&first), ["activation sigmoid", "activation tanh"]);
        queue.mark_started(1);
        queue.mark_started(2);
        assert!(queue.due(|_| true).is_empty());
        // One of the two ended: the third takes its place.
        let next = queue.due(|id| id == 2);
        assert_eq!(names(&next), ["activation relu"]);
        assert!(queue.due(|_| false).is_empty());
    }

    #[test]
    fn cancelling_drops_what_waits_and_keeps_what_started() {
        let mut queue = queue("train.clip_threshold=0.1,1,10", 1);
        let _first = queue.due(|_| false);
        queue.mark_started(5);
        let dropped = queue.cancel();
        assert_eq!(names(&dropped), ["clip_threshold 1", "clip_threshold 10"]);
        assert_eq!(queue.pending().count(), 0);
        assert!(queue.due(|_| false).is_empty());
        assert_eq!(queue.started(), [5]);
        assert!(!queue.is_done(|id| id == 5));
    }

    #[test]
    fn the_number_at_once_is_one_or_two() {
        assert_eq!(queue("model.depth=1,2", 0).at_once(), 1);
        assert_eq!(queue("model.depth=1,2", 5).at_once(), MAX_AT_ONCE);
        assert_eq!(queue("model.depth=1,2", 2).key(), "model.depth");
    }

    #[test]
    fn a_restored_sweep_waits_until_it_is_continued() {
        let live = queue("model.depth=1,2,3", 1);
        let pending: Vec<QueuedRun> = live.pending().skip(1).cloned().collect();
        let mut restored = SweepQueue::restored("model.depth".into(), 1, pending, vec![7]);
        assert!(restored.is_waiting() && restored.owns(7));
        // Run 7 ended long ago, yet nothing starts and the sweep is not over.
        assert!(restored.due(|_| false).is_empty());
        assert!(!restored.is_done(|_| false));
        assert_eq!(restored.pending().count(), 2);

        restored.continue_runs();
        assert!(!restored.is_waiting());
        assert!(restored.due(|id| id == 7).is_empty());
        assert_eq!(names(&restored.due(|_| false)), ["depth 2"]);
    }
}
