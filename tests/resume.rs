//! Continue = uninterrupted: N steps, save, restore, M more steps give exactly the
//! records of one run of N + M steps, bit for bit, whatever state the run carries.

use gradlab::config::{Config, apply_override};
use gradlab::train::checkpoint::{Checkpoint, TrainerState, tensors_from_bytes, tensors_to_bytes};
use gradlab::train::{StepRecord, Trainer};

fn config(overrides: &[&str]) -> Config {
    let mut config = Config::default();
    for assignment in ["model.depth=4", "model.width=16", "train.eval_every=7"]
        .iter()
        .chain(overrides)
    {
        config = apply_override(&config, assignment).expect("valid override");
    }
    config.validate().expect("valid config");
    config
}

/// Every number of a record as bits, so that NaN compares equal to NaN.
fn bits(record: &StepRecord) -> Vec<u64> {
    let mut out = vec![
        record.step,
        record.loss.to_bits(),
        record.accuracy.to_bits(),
        record.lr.to_bits(),
    ];
    out.push(record.test_accuracy.map_or(u64::MAX, f64::to_bits));
    out.push(record.grad_norm_total.to_bits());
    out.push(record.grad_norm_clipped.to_bits());
    for series in [
        &record.weight_grad_norm,
        &record.activation_grad_norm,
        &record.update_ratio,
        &record.saturated_fraction,
        &record.dead_fraction,
        &record.activation_mean,
        &record.activation_std,
        &record.prelu_slope,
        &record.hidden_grad_norm,
        &record.gate_mean,
        &record.gate_saturation,
        &record.recurrent_sigma,
    ] {
        out.extend(series.iter().map(|v| v.to_bits()));
    }
    out
}

/// Saves the checkpoint through the same encodings a session file uses: JSON for
/// the plain state, safetensors bytes for the tensors.
fn through_disk_formats(checkpoint: Checkpoint) -> Checkpoint {
    let json = serde_json::to_string(&checkpoint.state).expect("state serialises");
    let bytes = tensors_to_bytes(&checkpoint.tensors).expect("tensors serialise");
    Checkpoint {
        state: serde_json::from_str::<TrainerState>(&json).expect("state parses"),
        tensors: tensors_from_bytes(&bytes).expect("tensors parse"),
    }
}

fn assert_continue_equals_uninterrupted(config: &Config, first: u64, then: u64) {
    let mut whole = Trainer::new(config).expect("trainer builds");
    let uninterrupted: Vec<Vec<u64>> = (0..first + then)
        .map(|_| bits(&whole.step().expect("step")))
        .collect();

    let mut part = Trainer::new(config).expect("trainer builds");
    for _ in 0..first {
        part.step().expect("step");
    }
    let checkpoint = through_disk_formats(part.checkpoint().expect("checkpoint"));
    drop(part);
    let mut resumed = Trainer::from_checkpoint(config, checkpoint).expect("restores");
    let continued: Vec<Vec<u64>> = (0..then)
        .map(|_| bits(&resumed.step().expect("step")))
        .collect();

    for (offset, (a, b)) in uninterrupted[first as usize..]
        .iter()
        .zip(&continued)
        .enumerate()
    {
        assert_eq!(
            a,
            b,
            "step {} differs after resuming at {first}",
            first + 1 + offset as u64
        );
    }
    assert_eq!(continued.len() as u64, then);
}

/// The recurrent nets carry their singular-vector estimates across the save, so even
/// the largest singular value continues bit for bit.
#[test]
fn lstm_and_gru_with_adam_and_clipping_continue_exactly() {
    for kind in ["lstm", "gru"] {
        let config = config(&[
            "task.kind=adding",
            "task.seq_len=12",
            "task.num_points=200",
            &format!("model.kind={kind}"),
            "model.depth=2",
            "model.width=8",
            "model.recurrent_init=orthogonal",
            "train.optimizer=adam",
            "train.lr=0.01",
            "train.clip=norm",
            "train.clip_threshold=0.5",
        ]);
        assert_continue_equals_uninterrupted(&config, 6, 9);
    }
}

#[test]
fn plain_sgd_continues_exactly() {
    assert_continue_equals_uninterrupted(&config(&[]), 13, 20);
}

#[test]
fn adam_with_dropout_and_batch_norm_continues_exactly() {
    // Adam's moments and step count, dropout's generator, batch norm's running
    // statistics and the batch order mid-epoch all have to survive.
    let overrides = [
        "train.optimizer=adam",
        "train.lr=0.001",
        "model.dropout=0.3",
        "model.batch_norm=true",
    ];
    assert_continue_equals_uninterrupted(&config(&overrides), 17, 25);
}

#[test]
fn momentum_prelu_and_schedule_continue_exactly_in_f64() {
    let overrides = [
        "train.optimizer=nesterov",
        "model.activation=prelu",
        "train.schedule=cosine",
        "train.warmup_steps=5",
        "train.steps=60",
        "train.dtype=f64",
        "train.clip=norm",
        "train.clip_threshold=0.5",
        "task.kind=moons",
    ];
    assert_continue_equals_uninterrupted(&config(&overrides), 9, 30);
}

#[test]
fn a_checkpoint_for_another_network_is_refused_by_name() {
    let small = config(&[]);
    let mut trainer = Trainer::new(&small).expect("trainer builds");
    trainer.step().expect("step");
    let checkpoint = trainer.checkpoint().expect("checkpoint");
    let wider = config(&["model.width=17"]);
    let message = Trainer::from_checkpoint(&wider, checkpoint)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("layer1.weight"), "{message}");
}

/// Records of `steps` steps on `threads` compute threads, as bits.
fn records_on(config: &Config, threads: usize, steps: usize) -> Vec<Vec<u64>> {
    let mut trainer = Trainer::new(config).expect("trainer");
    trainer.set_compute_threads(threads);
    assert_eq!(trainer.compute_threads(), threads);
    (0..steps)
        .map(|_| bits(&trainer.step().expect("step")))
        .collect()
}

/// Two compute threads give the same records as one, bit for bit: the products split
/// in halves of rows (width and batch 128 take the split), the element-wise passes,
/// the probes and the SGD updates all spread over both threads.
#[test]
fn two_threads_give_the_records_of_one() {
    for overrides in [
        &[
            "train.optimizer=sgd",
            "model.residual_every=2",
            "model.dropout=0.2",
        ][..],
        &["model.batch_norm=true", "model.activation=tanh"][..],
        &[
            "train.optimizer=adam",
            "model.activation=sigmoid",
            "train.dtype=f64",
        ][..],
    ] {
        let mut all = vec!["model.width=128", "train.batch_size=128", "model.depth=5"];
        all.extend_from_slice(overrides);
        let config = config(&all);
        let one = records_on(&config, 1, 6);
        assert_eq!(one, records_on(&config, 2, 6), "{overrides:?}");
    }
}
