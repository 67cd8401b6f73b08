//! Tasks: the handwritten digits the lab ships, seeded 2-D toy sets and sequence
//! tasks, split into train and test sets, and the seeded order in which training
//! batches are drawn.

mod digits;
mod sequence;
mod toy;

pub use sequence::{COPY_INPUTS, COPY_SYMBOLS};

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

use crate::config::{TaskConfig, TaskKind};
use crate::rng::{Stream, stream_rng};

/// Why a task's data could not be prepared.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("the bundled digits data is damaged: {0}")]
    CorruptDigits(String),
}

/// What the network is asked to produce.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// Softmax cross-entropy over `classes`, read at `positions` outputs per example
    /// (the last `positions` time steps of a sequence; 1 for all but the copy task).
    Classify { classes: usize, positions: usize },
    /// The squared error of one real number (the adding problem).
    Regress,
}

/// Examples as row-major feature matrices with integer class labels or real targets.
/// A sequence example is stored flat, time step after time step, `num_features =
/// seq_len · inputs per step`.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub num_features: usize,
    /// Time steps per example; 1 for flat examples.
    pub seq_len: usize,
    pub objective: Objective,
    pub train_x: Vec<f32>,
    /// Class labels, `positions` per example (empty for regression).
    pub train_y: Vec<u32>,
    /// Real targets, one per example (empty for classification).
    pub train_values: Vec<f32>,
    pub test_x: Vec<f32>,
    pub test_y: Vec<u32>,
    pub test_values: Vec<f32>,
}

impl Dataset {
    /// Builds the task's data; the same seed always gives the same examples and split.
    pub fn load(task: &TaskConfig, seed: u64) -> Result<Self, DataError> {
        let mut rng = stream_rng(seed, Stream::Data);
        let mut values = Vec::new();
        let mut labels = Vec::new();
        let (features, num_features, seq_len, objective) = match task.kind {
            TaskKind::Digits | TaskKind::SeqDigits => {
                let (x, y) = digits::load()?;
                labels = y;
                let seq_len = if task.kind == TaskKind::SeqDigits {
                    task.seq_len
                } else {
                    1
                };
                let objective = Objective::Classify {
                    classes: 10,
                    positions: 1,
                };
                (x, digits::NUM_PIXELS, seq_len, objective)
            }
            TaskKind::Adding => {
                let (x, y) = sequence::adding(task.num_points, task.seq_len, &mut rng);
                values = y;
                (x, 2 * task.seq_len, task.seq_len, Objective::Regress)
            }
            TaskKind::Copy => {
                let k = task.copy_length;
                let (x, y) = sequence::copy(task.num_points, k, task.seq_len, &mut rng);
                labels = y;
                let steps = 2 * k + task.seq_len;
                let objective = Objective::Classify {
                    classes: COPY_SYMBOLS,
                    positions: k,
                };
                (x, steps * COPY_INPUTS, steps, objective)
            }
            kind => {
                let (x, y) = toy::generate(kind, task.num_points, task.noise, &mut rng);
                labels = y;
                let objective = Objective::Classify {
                    classes: 2,
                    positions: 1,
                };
                (x, 2, 1, objective)
            }
        };
        let num_examples = features.len() / num_features;
        let positions = match objective {
            Objective::Classify { positions, .. } => positions,
            Objective::Regress => 0,
        };

        let mut order: Vec<usize> = (0..num_examples).collect();
        order.shuffle(&mut stream_rng(seed, Stream::Split));
        let num_test = ((num_examples as f64) * task.test_fraction).round() as usize;
        let (test_idx, train_idx) = order.split_at(num_test.clamp(1, num_examples - 1));

        let gather = |idx: &[usize]| {
            let mut x = Vec::with_capacity(idx.len() * num_features);
            let mut y = Vec::with_capacity(idx.len() * positions);
            let mut v = Vec::with_capacity(if values.is_empty() { 0 } else { idx.len() });
            for &i in idx {
                x.extend_from_slice(&features[i * num_features..(i + 1) * num_features]);
                y.extend_from_slice(&labels[i * positions..(i + 1) * positions]);
                v.extend(values.get(i).copied());
            }
            (x, y, v)
        };
        let (train_x, train_y, train_values) = gather(train_idx);
        let (test_x, test_y, test_values) = gather(test_idx);

        Ok(Self {
            num_features,
            seq_len,
            objective,
            train_x,
            train_y,
            train_values,
            test_x,
            test_y,
            test_values,
        })
    }

    pub fn num_train(&self) -> usize {
        self.train_x.len() / self.num_features
    }

    pub fn num_test(&self) -> usize {
        self.test_x.len() / self.num_features
    }

    /// Inputs per time step (all features for flat examples).
    pub fn step_inputs(&self) -> usize {
        self.num_features / self.seq_len
    }

    /// Outputs of the network's last layer per read-out position.
    pub fn num_outputs(&self) -> usize {
        match self.objective {
            Objective::Classify { classes, .. } => classes,
            Objective::Regress => 1,
        }
    }

    /// The loss of knowing nothing, on the test set: for classes, the cross-entropy of
    /// a uniform guess (ln of the number of classes); for the adding problem, the
    /// squared error of always predicting the training targets' mean.
    pub fn baseline_loss(&self) -> f64 {
        match self.objective {
            Objective::Classify { classes, .. } => (classes as f64).ln(),
            Objective::Regress => {
                let n = self.train_values.len().max(1) as f64;
                let mean = self.train_values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let m = self.test_values.len().max(1) as f64;
                self.test_values
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / m
            }
        }
    }
}

/// Draws training batches epoch by epoch: each epoch visits every example once in a
/// fresh seeded order, and a batch that runs past the end continues into the next epoch.
/// Its whole state is serialisable, so a resumed run draws exactly the batches an
/// uninterrupted one would.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchSampler {
    order: Vec<usize>,
    position: usize,
    rng: ChaCha8Rng,
}

impl BatchSampler {
    pub fn new(num_examples: usize, seed: u64) -> Self {
        let mut rng = stream_rng(seed, Stream::Batches);
        let mut order: Vec<usize> = (0..num_examples).collect();
        order.shuffle(&mut rng);
        Self {
            order,
            position: 0,
            rng,
        }
    }

    /// True when the state could have come from `new(num_examples, _)`: the order is a
    /// permutation of the examples and the position lies within it.
    pub fn is_consistent(&self, num_examples: usize) -> bool {
        if self.order.len() != num_examples || self.position > num_examples {
            return false;
        }
        let mut seen = vec![false; num_examples];
        self.order
            .iter()
            .all(|&i| i < num_examples && !std::mem::replace(&mut seen[i], true))
    }

    /// The indices of the next `batch_size` examples.
    pub fn next_batch(&mut self, batch_size: usize) -> Vec<usize> {
        let mut batch = Vec::with_capacity(batch_size);
        while batch.len() < batch_size {
            if self.position == self.order.len() {
                self.order.shuffle(&mut self.rng);
                self.position = 0;
            }
            let take = (batch_size - batch.len()).min(self.order.len() - self.position);
            batch.extend_from_slice(&self.order[self.position..self.position + take]);
            self.position += take;
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_split_is_eighty_twenty_and_seeded() -> Result<(), DataError> {
        let task = TaskConfig::default();
        let a = Dataset::load(&task, 3)?;
        let b = Dataset::load(&task, 3)?;
        let c = Dataset::load(&task, 4)?;
        assert_eq!(a.num_train() + a.num_test(), 1797);
        assert_eq!(a.num_test(), 359); // round(1797 · 0.2)
        assert_eq!(a.train_y, b.train_y);
        assert_ne!(a.train_y, c.train_y);
        assert!(a.train_x.iter().all(|&p| (0.0..=1.0).contains(&p)));
        Ok(())
    }

    #[test]
    fn sequence_tasks_have_their_shapes_and_baselines() -> Result<(), DataError> {
        let mut task = TaskConfig {
            kind: TaskKind::Adding,
            seq_len: 30,
            num_points: 1000,
            ..TaskConfig::default()
        };
        let adding = Dataset::load(&task, 1)?;
        assert_eq!((adding.seq_len, adding.step_inputs()), (30, 2));
        assert_eq!(adding.num_train(), 800);
        assert_eq!(adding.train_values.len(), 800);
        assert!(adding.train_y.is_empty());
        // The sum of two U(−1, 1) values has variance 2/3; 200 test examples estimate
        // it within about ±0.1 (three standard errors).
        assert!((adding.baseline_loss() - 2.0 / 3.0).abs() < 0.1);

        task.kind = TaskKind::Copy;
        task.seq_len = 10;
        task.copy_length = 4;
        let copy = Dataset::load(&task, 1)?;
        assert_eq!((copy.seq_len, copy.step_inputs()), (18, COPY_INPUTS));
        assert_eq!(copy.train_y.len(), 800 * 4);
        assert!((copy.baseline_loss() - 8f64.ln()).abs() < 1e-12);

        task.kind = TaskKind::SeqDigits;
        task.seq_len = 8;
        let rows = Dataset::load(&task, 1)?;
        assert_eq!((rows.seq_len, rows.step_inputs()), (8, 8));
        let digits = Dataset::load(&TaskConfig::default(), 1)?;
        assert_eq!(rows.train_x, digits.train_x);
        Ok(())
    }

    #[test]
    fn sampler_visits_every_example_once_per_epoch() {
        let mut sampler = BatchSampler::new(10, 1);
        let mut seen: Vec<usize> = (0..5).flat_map(|_| sampler.next_batch(4)).collect();
        seen.truncate(20);
        let (first, second) = seen.split_at(10);
        let mut first = first.to_vec();
        let mut second = second.to_vec();
        first.sort_unstable();
        second.sort_unstable();
        let all: Vec<usize> = (0..10).collect();
        assert_eq!(first, all);
        assert_eq!(second, all);
    }
}
