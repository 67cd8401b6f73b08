//! The reference workloads (shared with the PyTorch peer the trainer is measured
//! against) run through the lab's own trainer with every probe on, exactly as the app
//! runs them, timed as steps per second.

use std::str::FromStr;
use std::time::Instant;

use crate::config::{Activation, Config, Init, ModelKind, TaskKind};
use crate::train::{TrainError, Trainer};

/// One of the reference workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// MLP, 20 hidden layers × 64, sigmoid, batch 128, two spirals.
    W1,
    /// MLP, 50 × 256, ReLU with batch norm, batch 256, two spirals.
    W2,
    /// The same without batch norm.
    W2nobn,
    /// tanh RNN, hidden 64, 100 time steps, batch 64, the adding problem.
    Rnn,
    /// LSTM, hidden 64, 100 time steps, batch 64, the adding problem.
    Lstm,
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "w1" => Ok(Self::W1),
            "w2" => Ok(Self::W2),
            "w2nobn" => Ok(Self::W2nobn),
            "rnn" => Ok(Self::Rnn),
            "lstm" => Ok(Self::Lstm),
            other => Err(format!(
                "unknown workload `{other}`; workloads: w1, w2, w2nobn, rnn, lstm"
            )),
        }
    }
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Self::W1 => "w1",
            Self::W2 => "w2",
            Self::W2nobn => "w2nobn",
            Self::Rnn => "rnn",
            Self::Lstm => "lstm",
        }
    }

    /// The workload as a configuration: PyTorch's default initialisation (our
    /// `standard`), plain SGD at 0.1, as in the peer script.
    pub fn config(self) -> Result<Config, String> {
        let mut config = Config::default();
        let (depth, width, batch, activation, batch_norm) = match self {
            Self::W1 => (20, 64, 128, Activation::Sigmoid, false),
            Self::W2 => (50, 256, 256, Activation::Relu, true),
            Self::W2nobn => (50, 256, 256, Activation::Relu, false),
            Self::Rnn | Self::Lstm => {
                config.task.kind = TaskKind::Adding;
                config.task.seq_len = 100;
                config.model.kind = if self == Self::Rnn {
                    ModelKind::Rnn
                } else {
                    ModelKind::Lstm
                };
                (1, 64, 64, Activation::Tanh, false)
            }
        };
        if !config.model.kind.is_recurrent() {
            config.task.kind = TaskKind::Spirals;
        }
        config.task.num_points = 4000;
        config.model.depth = depth;
        config.model.width = width;
        config.model.activation = activation;
        config.model.init = Init::Standard;
        config.model.batch_norm = batch_norm;
        config.train.batch_size = batch;
        config.train.lr = 0.1;
        // As many steps as a run may take, and no test evaluation inside the timing.
        config.train.steps = 10_000_000;
        config.train.eval_every = 10_000_000;
        Ok(config)
    }

    /// Steps per timed run when none is given: about a second of work each, and for
    /// the wide MLPs, whose trainer chooses its threads by timing steps, one turn of
    /// that timing, so that every run holds the same share of steps timing the slower
    /// setting.
    pub fn default_steps(self) -> u64 {
        match self {
            Self::W1 => 200,
            Self::W2 | Self::W2nobn => crate::parallel::TUNER_TURN_STEPS,
            Self::Rnn | Self::Lstm => 20,
        }
    }
}

/// Timings of one benchmark.
#[derive(Clone, Debug)]
pub struct BenchResult {
    /// Steps per second of each timed run.
    pub runs: Vec<f64>,
    /// The compute threads the steps ran on.
    pub threads: Threads,
}

/// How many compute threads a measurement ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    Fixed(usize),
    /// The trainer chose one or two by timing its steps.
    Tuned,
}

impl BenchResult {
    /// The median over the timed runs.
    pub fn steps_per_sec(&self) -> f64 {
        let mut sorted = self.runs.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }
}

/// Trains `warmup` untimed steps, then `runs` timed runs of `steps` steps each, on
/// `threads` compute threads (the trainer's default when `None`).
pub fn measure(
    config: &Config,
    warmup: u64,
    runs: usize,
    steps: u64,
    threads: Option<usize>,
) -> Result<BenchResult, TrainError> {
    let mut trainer = Trainer::new(config)?;
    if let Some(threads) = threads {
        trainer.set_compute_threads(threads);
    }
    for _ in 0..warmup {
        trainer.step()?;
    }
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        for _ in 0..steps {
            trainer.step()?;
        }
        rates.push(steps as f64 / start.elapsed().as_secs_f64());
    }
    Ok(BenchResult {
        runs: rates,
        threads: if trainer.compute_tuned() {
            Threads::Tuned
        } else {
            Threads::Fixed(trainer.compute_threads())
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_build_as_described() {
        let w2 = Workload::W2.config().expect("w2 is available");
        assert_eq!(
            (w2.model.depth, w2.model.width, w2.train.batch_size),
            (50, 256, 256)
        );
        assert!(w2.model.batch_norm);
        assert!(
            !Workload::W2nobn
                .config()
                .expect("available")
                .model
                .batch_norm
        );
        let lstm = Workload::Lstm.config().expect("lstm is available");
        assert_eq!(lstm.validate(), Ok(()));
        assert_eq!(
            (lstm.task.seq_len, lstm.model.width, lstm.train.batch_size),
            (100, 64, 64)
        );
        assert_eq!("w1".parse::<Workload>(), Ok(Workload::W1));
        assert!("w3".parse::<Workload>().is_err());
    }

    #[test]
    fn median_of_the_runs() {
        let result = BenchResult {
            runs: vec![3.0, 1.0, 2.0, 10.0],
            threads: Threads::Fixed(1),
        };
        assert_eq!(result.steps_per_sec(), 2.5);
    }
}
