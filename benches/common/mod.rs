//! Synthetic runs shared by the benchmarks: the shape of a deep sigmoid net's record,
//! without training one.
#![allow(dead_code)]

use gradlab::history::RunHistory;
use gradlab::train::StepRecord;

/// Hidden layers plus the output layer of the default experiment.
pub const LAYERS: usize = 21;

/// A record whose norms fall by a decade a layer, with a little wobble from step to
/// step and a test accuracy every 100 steps.
pub fn record(step: u64) -> StepRecord {
    let wobble = 1.0 + (step % 13) as f64 * 0.02;
    let falling: Vec<f64> = (0..LAYERS)
        .map(|l| 10f64.powi(l as i32 - 20) * wobble)
        .collect();
    StepRecord {
        step,
        loss: 2.3 * wobble,
        accuracy: 0.1 * wobble,
        test_accuracy: step.is_multiple_of(100).then_some(0.1),
        lr: 0.1,
        grad_norm_total: 1.0,
        grad_norm_clipped: 1.0,
        weight_grad_norm: falling.clone(),
        activation_grad_norm: falling.clone(),
        update_ratio: falling,
        saturated_fraction: vec![0.5; LAYERS],
        dead_fraction: vec![0.0; LAYERS],
        activation_mean: vec![0.5; LAYERS],
        activation_std: vec![0.1; LAYERS],
        ..StepRecord::default()
    }
}

/// A run of `steps` such records.
pub fn long_history(steps: u64) -> RunHistory {
    let mut history = RunHistory::new(LAYERS);
    for step in 1..=steps {
        history.push(&record(step));
    }
    history
}
