//! Tasks: the handwritten digits the lab ships and seeded 2-D toy sets, split into
//! train and test sets, and the seeded order in which training batches are drawn.

mod digits;
mod toy;

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

/// Examples as row-major feature matrices with integer class labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub num_features: usize,
    pub num_classes: usize,
    pub train_x: Vec<f32>,
    pub train_y: Vec<u32>,
    pub test_x: Vec<f32>,
    pub test_y: Vec<u32>,
}

impl Dataset {
    /// Builds the task's data; the same seed always gives the same examples and split.
    pub fn load(task: &TaskConfig, seed: u64) -> Result<Self, DataError> {
        let (features, labels, num_features, num_classes) = match task.kind {
            TaskKind::Digits => {
                let (x, y) = digits::load()?;
                (x, y, digits::NUM_PIXELS, 10)
            }
            kind => {
                let mut rng = stream_rng(seed, Stream::Data);
                let (x, y) = toy::generate(kind, task.num_points, task.noise, &mut rng);
                (x, y, 2, 2)
            }
        };

        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.shuffle(&mut stream_rng(seed, Stream::Split));
        let num_test = ((labels.len() as f64) * task.test_fraction).round() as usize;
        let (test_idx, train_idx) = order.split_at(num_test.clamp(1, labels.len() - 1));

        let gather = |idx: &[usize]| {
            let mut x = Vec::with_capacity(idx.len() * num_features);
            let mut y = Vec::with_capacity(idx.len());
            for &i in idx {
                x.extend_from_slice(&features[i * num_features..(i + 1) * num_features]);
                y.push(labels[i]);
            }
            (x, y)
        };
        let (train_x, train_y) = gather(train_idx);
        let (test_x, test_y) = gather(test_idx);

        Ok(Self {
            num_features,
            num_classes,
            train_x,
            train_y,
            test_x,
            test_y,
        })
    }

    pub fn num_train(&self) -> usize {
        self.train_y.len()
    }

    pub fn num_test(&self) -> usize {
        self.test_y.len()
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
