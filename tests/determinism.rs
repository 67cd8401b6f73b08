//! Reproducibility: the seed decides everything. The same config run twice gives the
//! same records bit for bit (compared through `to_bits`, so NaN compares too) and the
//! same files byte for byte; another seed gives other records.

mod common;

use common::config_with;

use gradlab::config::Config;
use gradlab::run::run_headless;
use gradlab::train::{StepRecord, TrainError, Trainer};

const STEPS: u64 = 30;

/// A record as exact bit patterns: step, loss, accuracy, test accuracy (if measured),
/// then every layer's two norms.
fn fingerprint(record: &StepRecord) -> Vec<u64> {
    let mut bits = vec![
        record.step,
        record.loss.to_bits(),
        record.accuracy.to_bits(),
    ];
    match record.test_accuracy {
        Some(test) => bits.extend([1, test.to_bits()]),
        None => bits.push(0),
    }
    bits.extend(record.weight_grad_norm.iter().map(|v| v.to_bits()));
    bits.extend(record.activation_grad_norm.iter().map(|v| v.to_bits()));
    bits
}

fn fingerprints(config: &Config) -> Result<Vec<Vec<u64>>, TrainError> {
    let mut trainer = Trainer::new(config)?;
    (0..STEPS)
        .map(|_| Ok(fingerprint(&trainer.step()?)))
        .collect()
}

/// Test accuracy every 10 steps, so that it is part of the comparison.
fn configs() -> [Config; 2] {
    [
        config_with(&["train.eval_every=10"]),
        config_with(&[
            "train.eval_every=10",
            "task.kind=spirals",
            "model.depth=8",
            "model.width=32",
            "model.activation=tanh",
            "model.init=xavier_normal",
            "train.dtype=f64",
        ]),
    ]
}

#[test]
fn same_seed_and_config_give_identical_records() -> Result<(), TrainError> {
    for config in configs() {
        let first = fingerprints(&config)?;
        let second = fingerprints(&config)?;
        assert_eq!(first.len() as u64, STEPS);
        for (step, (a, b)) in first.iter().zip(&second).enumerate() {
            assert_eq!(a, b, "{}: step {} differs", config.summary(), step + 1);
        }
    }
    Ok(())
}

#[test]
fn another_seed_gives_other_records() -> Result<(), TrainError> {
    for config in configs() {
        let mut reseeded = config.clone();
        reseeded.seed = config.seed + 1;
        let first = fingerprints(&config)?;
        let other = fingerprints(&reseeded)?;
        // Every step differs: another seed draws other weights and other batches.
        for (step, (a, b)) in first.iter().zip(&other).enumerate() {
            assert_ne!(a, b, "{}: step {} is the same", config.summary(), step + 1);
        }
    }
    Ok(())
}

#[test]
fn same_config_writes_identical_files() {
    let config = config_with(&[&format!("train.steps={STEPS}"), "train.eval_every=10"]);
    let dirs = [
        tempfile::tempdir().expect("a temporary folder"),
        tempfile::tempdir().expect("a temporary folder"),
    ];
    for dir in &dirs {
        run_headless(&config, dir.path(), |_| {}).expect("the run succeeds");
    }
    for name in ["session.json", "metrics.csv", "heatmap.png"] {
        let [a, b] = dirs
            .each_ref()
            .map(|dir| std::fs::read(dir.path().join(name)).expect("the file exists"));
        assert!(!a.is_empty(), "{name} is empty");
        assert!(a == b, "{name} differs between two runs of the same config");
    }
}
