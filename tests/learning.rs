//! Learning and divergence: a small ReLU net learns the digits, and runs that blow up
//! say so, stop at the step where they did, and keep NaN and Inf as such in their files.

use std::collections::HashMap;
use std::path::Path;

use gradlab::config::{Config, apply_override};
use gradlab::run::run_headless;
use gradlab::session::Session;
use gradlab::train::{LayerMetric, StepRecord, TrainError, Trainer};

fn config_with(base: Config, assignments: &[&str]) -> Config {
    let mut config = base;
    for assignment in assignments {
        config = apply_override(&config, assignment).expect("a valid override");
    }
    config.validate().expect("a valid config");
    config
}

/// True when both are NaN or both are the same number (infinities included).
fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

// ---------------------------------------------------------------------------
// Learning

/// Two ReLU layers of 64 with He-normal init, SGD lr 0.05, batch 32 (the
/// `shallow_relu` preset's settings), for 1000 steps.
///
/// Measured test accuracy after 1000 steps: 96.9% (seed 1); seeds 1–5 gave 95.3% to
/// 96.9%. Seed 1 first passes 90% at step 200 (91.1%) and stays above 93% from step
/// 300 on, so 1000 steps is five times the budget it needs and 90% is six points below
/// what it reaches. Before training: 12.3% (chance is 10%). Takes about 0.5 s.
#[test]
fn small_relu_net_learns_digits_to_90_percent() -> Result<(), TrainError> {
    let config = config_with(
        Config::default(),
        &[
            "model.depth=2",
            "model.width=64",
            "model.activation=relu",
            "model.init=he_normal",
            "train.lr=0.05",
            "train.batch_size=32",
            "train.steps=1000",
        ],
    );
    let mut trainer = Trainer::new(&config)?;
    let initial = trainer.test_accuracy()?;
    assert!(
        initial < 0.3,
        "an untrained net should be near chance (10%), found {initial}"
    );

    let mut last = None;
    while !trainer.is_finished() {
        last = Some(trainer.step()?);
    }
    let Some(last) = last else {
        panic!("no step was taken");
    };
    assert_eq!(last.step, 1000);
    let Some(accuracy) = last.test_accuracy else {
        panic!("the last step must measure test accuracy");
    };
    assert_eq!(accuracy, trainer.test_accuracy()?);
    assert!(
        accuracy >= 0.9,
        "test accuracy after 1000 steps is {:.1}%, expected at least 90%",
        accuracy * 100.0
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Divergence

/// Runs `config` headless into a fresh folder and checks the run stopped cleanly at the
/// first diverged step, with every file agreeing with the records. Returns the records
/// and the metrics text.
fn run_until_divergence(config: &Config) -> (Vec<StepRecord>, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut records = Vec::new();
    let outcome = run_headless(config, dir.path(), |record| records.push(record.clone()))
        .expect("a diverging run still ends with Ok");

    let Some((step, reason)) = &outcome.divergence else {
        panic!("the run did not report a divergence");
    };
    let last = records.last().expect("at least one step");
    assert_eq!(last.step, *step);
    assert_eq!(last.divergence().as_ref(), Some(reason));
    assert!(
        records[..records.len() - 1]
            .iter()
            .all(|r| r.divergence().is_none()),
        "the run went on past a diverged step"
    );
    assert_eq!(outcome.history.len() as u64, *step);
    assert_eq!(outcome.history.last_step(), *step);
    assert!(*step < config.train.steps);

    check_csv_matches(&dir.path().join("metrics.csv"), &records);
    check_session_matches(&dir.path().join("session.json"), &records);
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).expect("metrics.csv");
    (records, csv)
}

/// The recorded values of one per-layer metric.
type LayerValues = fn(&StepRecord) -> &[f64];

fn weight_grad_norm(record: &StepRecord) -> &[f64] {
    &record.weight_grad_norm
}

fn activation_grad_norm(record: &StepRecord) -> &[f64] {
    &record.activation_grad_norm
}

/// The per-layer metrics of the contract: name in metrics.csv, metric in the history,
/// values in a record.
const GRADIENT_NORMS: [(&str, LayerMetric, LayerValues); 2] = [
    (
        "weight_grad_norm",
        LayerMetric::WeightGradNorm,
        weight_grad_norm,
    ),
    (
        "activation_grad_norm",
        LayerMetric::ActivationGradNorm,
        activation_grad_norm,
    ),
];

/// Every loss, accuracy and gradient norm of every record appears in metrics.csv, NaN
/// and Inf included.
fn check_csv_matches(path: &Path, records: &[StepRecord]) {
    let text = std::fs::read_to_string(path).expect("metrics.csv");
    let mut rows: HashMap<(u64, String, String), f64> = HashMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 4, "row `{line}`");
        let value: f64 = fields[3].parse().expect("a number, NaN or inf");
        let step = fields[0].parse().expect("a step number");
        rows.insert((step, fields[1].to_owned(), fields[2].to_owned()), value);
    }

    for record in records {
        let mut expected = vec![
            ("loss".to_owned(), String::new(), record.loss),
            ("accuracy".to_owned(), String::new(), record.accuracy),
        ];
        for (name, _, values) in GRADIENT_NORMS {
            for (layer, &value) in values(record).iter().enumerate() {
                expected.push((name.to_owned(), (layer + 1).to_string(), value));
            }
        }
        for (metric, index, value) in expected {
            let key = (record.step, metric, index);
            let Some(&written) = rows.get(&key) else {
                panic!("no row for {key:?}");
            };
            assert!(same_value(written, value), "{key:?}: {written} vs {value}");
        }
    }
}

/// The saved session reads back with the same history, NaN and Inf included.
fn check_session_matches(path: &Path, records: &[StepRecord]) {
    let session = Session::load(path).expect("the session reads back");
    assert_eq!(session.schema_version, 1);
    let history = &session.runs[0].history;
    assert_eq!(history.len(), records.len());
    for (column, record) in records.iter().enumerate() {
        assert!(same_value(history.loss()[column], record.loss));
        for (name, metric, values) in GRADIENT_NORMS {
            let saved = history.layer_values(metric, column);
            let recorded = values(record);
            assert_eq!(saved.len(), recorded.len());
            assert!(
                saved.iter().zip(recorded).all(|(&a, &b)| same_value(a, b)),
                "step {}: {name} saved {saved:?}, recorded {recorded:?}",
                record.step,
            );
        }
    }
}

/// The `huge_init` preset: 20 ReLU layers drawn from N(0, 1). Measured: step 1 has a
/// finite loss of 7.3e15 and weight gradients of 2e15 to 6e15; step 2's loss and every
/// norm are NaN, so the run stops after 2 of its 20000 steps.
#[test]
fn huge_init_diverges_with_nan_and_the_run_stops_there() {
    let preset = gradlab::presets::find("huge_init").expect("the preset exists");
    let config = preset.config().expect("the preset is valid");
    let (records, csv) = run_until_divergence(&config);

    let last = records.last().expect("at least one step");
    assert!(
        last.step <= 10,
        "expected the blow-up within 10 steps (measured: step 2), got step {}",
        last.step
    );
    assert!(last.loss.is_nan(), "loss {}", last.loss);
    assert!(
        csv.lines()
            .any(|line| line == format!("{},loss,,NaN", last.step)),
        "metrics.csv does not write the NaN loss as `NaN`"
    );
}

/// Weights from N(0, 11²) in 20 ReLU layers: the logits reach about 1e37 and their mean
/// cross-entropy overflows f32, while every gradient norm stays finite (up to 3.7e36).
/// Measured at step 1: loss inf, no NaN, no Inf among the 42 norms; the same for
/// σ = 10.5 and 11.5 (from σ = 12 on the logits themselves overflow and all is NaN).
#[test]
fn overflowing_loss_is_recorded_as_inf_and_the_run_stops_there() {
    let config = config_with(
        Config::default(),
        &[
            "model.activation=relu",
            "model.init=normal",
            "model.init_scale=11",
        ],
    );
    let (records, csv) = run_until_divergence(&config);

    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.loss, f64::INFINITY);
    assert!(
        record
            .weight_grad_norm
            .iter()
            .chain(&record.activation_grad_norm)
            .all(|v| v.is_finite()),
        "only the loss should have overflowed"
    );
    assert_eq!(record.divergence().as_deref(), Some("loss became inf"));
    assert!(
        csv.lines().any(|line| line == "1,loss,,inf"),
        "metrics.csv does not write the infinite loss as `inf`"
    );
}
