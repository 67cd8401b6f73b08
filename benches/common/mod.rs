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
    let falling = (0..LAYERS).map(|l| 10f64.powi(l as i32 - 20)).collect();
    shaped_record(step, falling)
}

/// A record of the default experiment's shape with the norms `falling` (one a layer),
/// wobbling from step to step.
fn shaped_record(step: u64, mut falling: Vec<f64>) -> StepRecord {
    let layers = falling.len();
    let wobble = 1.0 + (step % 13) as f64 * 0.02;
    falling.iter_mut().for_each(|v| *v *= wobble);
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
        saturated_fraction: vec![0.5; layers],
        dead_fraction: vec![0.0; layers],
        activation_mean: vec![0.5; layers],
        activation_std: vec![0.1; layers],
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

/// Layers of the deep run of issue #7.
pub const DEEP_LAYERS: usize = 100;

/// A record of `DEEP_LAYERS` layers with every MLP metric and PReLU slopes: norms that
/// fall by a tenth of a decade a layer, with a wobble, a NaN at step 300,000 and a
/// spike at step 700,000.
pub fn deep_record(step: u64) -> StepRecord {
    let mut falling: Vec<f64> = (0..DEEP_LAYERS)
        .map(|l| 10f64.powf(l as f64 / 10.0 - 10.0))
        .collect();
    if step == 300_000 {
        falling[10] = f64::NAN;
    }
    if step == 700_000 {
        falling[50] = 1e30;
    }
    StepRecord {
        prelu_slope: vec![0.25; DEEP_LAYERS - 1],
        ..shaped_record(step, falling)
    }
}

/// A run of `steps` deep records, with the default budget.
pub fn deep_history(steps: u64) -> RunHistory {
    let mut history = RunHistory::new(DEEP_LAYERS);
    for step in 1..=steps {
        history.push(&deep_record(step));
    }
    history
}
