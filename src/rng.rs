//! Seeded random streams. Every random choice of a run draws from its own stream of
//! one seed, so that changing how one is used (say, the batch size) leaves the others
//! (the weights, the split) exactly as they were.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The independent uses of a run's seed.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// Generating a synthetic data set.
    Data,
    /// The train/test split.
    Split,
    /// Initial weights.
    Weights,
    /// The order of training batches.
    Batches,
    /// Dropout masks.
    Dropout,
}

/// A generator for one stream of `seed`.
pub fn stream_rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64 + 1);
    rng
}
