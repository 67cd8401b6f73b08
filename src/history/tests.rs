//! Folding a long history: summaries against a brute force over the raw values, the
//! extremes that must survive, the memory bound and the session file.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::train::Scale;

/// The MLP metrics, each with one row per layer.
const MLP_METRICS: [LayerMetric; 7] = [
    LayerMetric::WeightGradNorm,
    LayerMetric::ActivationGradNorm,
    LayerMetric::UpdateRatio,
    LayerMetric::SaturatedFraction,
    LayerMetric::DeadFraction,
    LayerMetric::ActivationMean,
    LayerMetric::ActivationStd,
];

/// Mean of log10 is kept as an f32 in full buckets: about 1e-5 of a decade for values
/// within 1e±300, and merges add a rounding each. A colour step is 1/256 of at least a
/// decade, so 1e-4 decades is invisible.
const LOG_TOLERANCE: f64 = 1e-4;

/// A record whose every metric of every layer is `values[layer]`, with a loss of
/// `values[0]` and PReLU slopes of the hidden layers.
fn record(step: u64, values: &[f64]) -> StepRecord {
    StepRecord {
        loss: values[0],
        accuracy: 0.5,
        test_accuracy: step.is_multiple_of(10).then_some(0.25),
        lr: 0.1,
        grad_norm_total: values[values.len() - 1],
        grad_norm_clipped: 1.0,
        prelu_slope: values[..values.len() - 1].to_vec(),
        ..StepRecord::every_mlp_metric(step, values)
    }
}

/// A value spread over 80 decades, of either sign, sometimes zero, NaN or infinite.
fn wild_value(rng: &mut ChaCha8Rng) -> f64 {
    match rng.random_range(0..100) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3..=7 => 0.0,
        roll => {
            let magnitude = 10f64.powf(rng.random_range(-40.0..40.0));
            if roll < 30 { -magnitude } else { magnitude }
        }
    }
}

/// A folded history of `steps` steps of `layers` wild values, and the raw values:
/// `raw[step][layer]`.
fn wild_history(
    layers: usize,
    steps: u64,
    budget: HistoryBudget,
    seed: u64,
) -> (RunHistory, Vec<Vec<f64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut history = RunHistory::new(layers).with_budget(budget);
    let mut raw = Vec::new();
    for step in 1..=steps {
        let values: Vec<f64> = (0..layers).map(|_| wild_value(&mut rng)).collect();
        assert!(history.push(&record(step, &values)));
        raw.push(values);
    }
    (history, raw)
}

/// Checks a summary against the brute-force one of the same values: counts and
/// extremes exactly, the means within their tolerances.
fn assert_agrees(found: &CellSummary, expected: &CellSummary, what: &str) {
    let counts = |s: &CellSummary| (s.count, s.nan_count, s.inf_count, s.zero_count);
    assert_eq!(counts(found), counts(expected), "{what}: counts");
    let bits = |s: &CellSummary| [s.min, s.max, s.min_magnitude].map(f64::to_bits);
    assert_eq!(
        bits(found),
        bits(expected),
        "{what}: extremes {found:?} vs {expected:?}"
    );
    // The mean is merged in f64 from means of parts, the brute force sums: each is off
    // by at most n·ε of the largest magnitude (n ≤ 5,000: 1.1e-12), so 1e-11 of it.
    let scale = expected.min.abs().max(expected.max.abs());
    let mean_ok = (found.mean.is_nan() && expected.mean.is_nan())
        || (found.mean - expected.mean).abs() <= 1e-11 * scale;
    assert!(mean_ok, "{what}: mean {} vs {}", found.mean, expected.mean);
    let log_ok = (found.mean_log10.is_nan() && expected.mean_log10.is_nan())
        || (found.mean_log10 - expected.mean_log10).abs() <= LOG_TOLERANCE;
    assert!(
        log_ok,
        "{what}: mean_log10 {} vs {}",
        found.mean_log10, expected.mean_log10
    );
}

#[test]
fn a_run_within_its_budget_is_kept_exactly() {
    let budget = HistoryBudget::new(100, 8);
    // 100 exact steps plus a fold of 12 minus one: the most that is never folded.
    let (history, raw) = wild_history(3, 111, budget, 1);
    assert!(!history.is_summarised());
    assert_eq!(history.exact_start(), 0);
    for (column, values) in raw.iter().enumerate() {
        let kept = history.layer_values(LayerMetric::WeightGradNorm, column);
        assert_eq!(
            kept.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    let json = serde_json::to_string(&history).expect("serialises");
    assert!(!json.contains("summarised"));

    let (folded, _) = wild_history(3, 112, budget, 1);
    assert!(folded.is_summarised());
    assert_eq!(folded.exact_start(), 12);
    assert_eq!(folded.len(), 112);
}

#[test]
fn range_summaries_agree_with_a_brute_force_over_the_raw_values() {
    // Four buckets at most, so that the buckets have merged many times over 5,000 steps.
    let budget = HistoryBudget::new(64, 4);
    let (history, raw) = wild_history(3, 5_000, budget, 7);
    assert!(history.bucket_steps() >= 512, "{}", history.bucket_steps());
    let exact_start = history.exact_start();
    assert!(exact_start > 4_000);

    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let width = history.bucket_steps();
    // Ranges straddling bucket edges and the edge between summaries and exact steps.
    let mut ranges: Vec<std::ops::Range<usize>> = (0..300)
        .map(|_| {
            let a = rng.random_range(0..=raw.len());
            let b = rng.random_range(0..=raw.len());
            a.min(b)..a.max(b)
        })
        .collect();
    ranges.extend([
        0..raw.len(),
        width - 1..width + 1,
        exact_start - 3..exact_start + 3,
    ]);
    ranges.push(exact_start - width..exact_start);
    for columns in ranges {
        let covered = history.covered(columns.clone());
        let layers = history.rows(LayerMetric::WeightGradNorm);
        for layer in (0..layers).rev() {
            let expected = CellSummary::of(covered.clone().map(|c| raw[c][layer]));
            let found = history.summarize(LayerMetric::WeightGradNorm, layer, columns.clone());
            assert_agrees(&found, &expected, &format!("layer {layer}, {columns:?}"));
        }
        let expected = CellSummary::of(covered.clone().map(|c| raw[c][0]));
        let found = history.summarize_scalar(Scalar::Loss, columns.clone());
        assert_agrees(&found, &expected, &format!("loss, {columns:?}"));
    }

    // Ranges that partition the run partition its values: none lost, none twice.
    let mut start = 0;
    let mut counted = 0;
    while start < raw.len() {
        let end = (start + rng.random_range(1..700)).min(raw.len());
        counted += history
            .summarize(LayerMetric::ActivationMean, 1, start..end)
            .count;
        start = end;
    }
    assert_eq!(counted, raw.len());
}

#[test]
fn a_nan_a_tiny_and_a_huge_value_survive_every_summary_that_holds_them() {
    let layers = 4;
    let steps = 20_000;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut history = RunHistory::new(layers).with_budget(HistoryBudget::new(256, 16));
    let mut raw = Vec::new();
    // Three distinct steps among the ones that will be summarised, and a layer each.
    let nan_at = (rng.random_range(0..6_000), rng.random_range(0..layers));
    let tiny_at = (rng.random_range(6_000..12_000), rng.random_range(0..layers));
    let huge_at = (
        rng.random_range(12_000..19_000),
        rng.random_range(0..layers),
    );
    for column in 0..steps {
        let mut values: Vec<f64> = (0..layers).map(|_| rng.random_range(1e-3..1e-2)).collect();
        for ((at, layer), value) in [(nan_at, f64::NAN), (tiny_at, 1e-30), (huge_at, 1e30)] {
            if at == column {
                values[layer] = value;
            }
        }
        history.push(&record(column as u64 + 1, &values));
        raw.push(values);
    }
    assert!(
        history.exact_start() > huge_at.0,
        "all three are summarised"
    );
    let metric = LayerMetric::WeightGradNorm;

    // Every power-of-two column width a heatmap uses, from the bucket width up.
    let mut per_column = history.bucket_steps();
    while per_column <= steps {
        for (column, layer, check) in [
            (nan_at.0, nan_at.1, 0),
            (tiny_at.0, tiny_at.1, 1),
            (huge_at.0, huge_at.1, 2),
        ] {
            let start = column / per_column * per_column;
            let summary = history.summarize(metric, layer, start..start + per_column);
            match check {
                0 => {
                    assert_eq!(summary.nan_count, 1);
                    assert_eq!(summary.display(Scale::Log), DisplayValue::Nan);
                }
                1 => {
                    assert_eq!((summary.min, summary.min_magnitude), (1e-30, 1e-30));
                }
                _ => assert_eq!(summary.max, 1e30),
            }
        }
        per_column *= 2;
    }
    // The colour scale is the one of every raw value: it reaches both extremes.
    let expected = ColorRange::covering(Scale::Log, raw.iter().flatten().copied());
    assert_eq!(Some(history.color_range(metric)), expected);
    // The curves keep them too: the extremes as points, the NaN as a gap, in a few
    // hundred points.
    let curve = |layer| history.layer_curve(metric, layer, 200);
    assert!(curve(tiny_at.1).iter().any(|p| p.1 == 1e-30));
    assert!(curve(huge_at.1).iter().any(|p| p.1 == 1e30));
    assert!(curve(nan_at.1).iter().any(|p| p.1.is_nan()));
    assert!(
        (0..layers).all(|layer| curve(layer).len() <= 2 * 200),
        "few points"
    );
    let columns = curve(0).iter().map(|p| p.0).collect::<Vec<_>>();
    assert!(columns.windows(2).all(|w| w[0] <= w[1]), "in column order");
}

#[test]
fn memory_stops_growing_once_the_budget_is_full() {
    // 100 layers of one metric (the others recorded with no rows), 200,000 steps.
    let layers = 100;
    let rows: BTreeMap<LayerMetric, usize> = MLP_METRICS[1..].iter().map(|&m| (m, 0)).collect();
    let budget = HistoryBudget::new(2_000, 256);
    let mut history = RunHistory::with_rows(layers, &rows).with_budget(budget);
    let mut values = vec![0.0; layers];
    let mut samples = Vec::new();
    for step in 1..=200_000u64 {
        for (layer, value) in values.iter_mut().enumerate() {
            *value = (step as f64).sqrt() * 10f64.powi(-(layer as i32 % 30));
        }
        let record = StepRecord {
            step,
            weight_grad_norm: values.clone(),
            ..StepRecord::default()
        };
        assert!(history.push(&record));
        if step % 25_000 == 0 {
            samples.push(history.heap_bytes());
        }
    }
    // By hand: 100 rows of the metric and 5 scalars; 2,250 exact steps (2,000 plus a
    // fold of 250) of 8 bytes, 256 buckets of 48 bytes and an open bucket of 72 bytes
    // a row; no PReLU slopes recorded; test accuracies none; the first step's 100
    // values kept apart once it is summarised.
    let per_row = 2_250 * 8 + 256 * 48 + 72;
    let by_hand = 105 * per_row + 100 * 8;
    for &bytes in &samples {
        assert!(bytes <= history.heap_bytes_bound(), "{bytes}");
        assert!(bytes <= by_hand, "{bytes} > {by_hand}");
    }
    // From the first sample on (the buckets full by then) the bytes stay the same.
    assert!(samples.windows(2).all(|w| w[0] == w[1]), "{samples:?}");
    assert!(history.bucket_steps() >= 512);
}

#[test]
fn a_hundred_layer_mlp_of_a_million_steps_fits_in_256_megabytes() {
    // Every MLP metric and PReLU slopes over 100 layers; the default budget.
    let history = RunHistory::new(100);
    let values_per_step = 7 * 100 + 99 + 5;
    let exact_steps = (1 << 23) / values_per_step;
    assert_eq!(history.budget().exact_steps, exact_steps);
    let limit = exact_steps + exact_steps / 8;
    let per_row = limit * 8 + 2048 * 48 + 72;
    // Plus the first step of each of the 7 metrics, kept exactly.
    let by_hand = values_per_step * per_row + (2048 + limit) * 16 + 7 * 100 * 8;
    assert_eq!(history.heap_bytes_bound(), by_hand);
    assert!(by_hand <= 256 << 20, "{by_hand} bytes");
    assert_eq!(size_of::<folded::BucketCell>(), 48);
    assert_eq!(size_of::<CellSummary>(), 72);
}

#[test]
fn a_folded_history_round_trips_through_json_and_keeps_appending() {
    let budget = HistoryBudget::new(50, 8);
    let (history, raw) = wild_history(3, 1_234, budget, 5);
    assert!(history.is_summarised() && history.folding.open_steps > 0);
    let json = serde_json::to_string(&history).expect("serialises");
    assert!(json.contains("\"summarised\""));
    let loaded: RunHistory = serde_json::from_str(&json).expect("loads");
    loaded.check().expect("consistent");
    // Not `assert_eq!`: a failure would print every value.
    assert!(loaded == history, "the loaded history differs");
    assert_eq!(serde_json::to_string(&loaded).expect("serialises"), json);
    for columns in [0..1_234, 100..900, 1_000..1_234] {
        let covered = history.covered(columns.clone());
        let expected = CellSummary::of(covered.map(|c| raw[c][2]));
        let found = loaded.summarize(LayerMetric::UpdateRatio, 2, columns);
        assert_agrees(&found, &expected, "loaded");
    }
    assert_eq!(
        loaded.color_range(LayerMetric::ActivationMean),
        history.color_range(LayerMetric::ActivationMean)
    );

    // Both continue alike (the loaded one with its default budget keeps more exact).
    let (mut original, mut resumed) = (history.clone(), loaded);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for step in 1_235..=1_300 {
        let values: Vec<f64> = (0..3).map(|_| wild_value(&mut rng)).collect();
        original.push(&record(step, &values));
        resumed.push(&record(step, &values));
    }
    assert_eq!(resumed.len(), 1_300);
    assert_eq!(resumed.last_step(), 1_300);
    let all = resumed.summarize(LayerMetric::WeightGradNorm, 0, 0..1_300);
    let before = original.summarize(LayerMetric::WeightGradNorm, 0, 0..1_300);
    assert_eq!(all.count, 1_300);
    assert_eq!(
        (all.nan_count, all.min.to_bits(), all.max.to_bits()),
        (before.nan_count, before.min.to_bits(), before.max.to_bits())
    );
}

#[test]
fn damaged_summaries_are_refused_with_a_reason() {
    let budget = HistoryBudget::new(20, 4);
    let (history, _) = wild_history(2, 300, budget, 2);
    let json = serde_json::to_string(&history).expect("serialises");
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");

    let mut odd_width = value.clone();
    odd_width["summarised"]["bucket_steps"] = 3.into();
    let error = serde_json::from_value::<RunHistory>(odd_width).expect_err("refused");
    assert!(error.to_string().contains("power of two"), "{error}");

    let mut short = value.clone();
    short["summarised"]["layers"]["weight_grad_norm"]["max"]
        .as_array_mut()
        .expect("a list")
        .pop();
    let error = serde_json::from_value::<RunHistory>(short).expect_err("refused");
    assert!(error.to_string().contains("weight_grad_norm"), "{error}");

    let mut too_many = value;
    too_many["summarised"]["steps"] = 100_000.into();
    let loaded: RunHistory = serde_json::from_value(too_many).expect("reads");
    let problem = loaded.check().expect_err("inconsistent");
    assert!(problem.contains("summaries of"), "{problem}");
}

#[test]
fn a_summarised_history_keeps_its_first_step_exactly() {
    let budget = HistoryBudget::new(30, 4);
    let (history, raw) = wild_history(3, 500, budget, 11);
    assert!(
        history.exact_start() > 0 && history.layer_values(LayerMetric::UpdateRatio, 0).is_empty()
    );
    let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for metric in MLP_METRICS {
        assert_eq!(
            bits(history.first_layer_values(metric)),
            bits(&raw[0]),
            "{}",
            metric.name()
        );
    }
    assert!(history.keeps_first_step());

    // Through a file and back, and refused when its length is wrong.
    let json = serde_json::to_string(&history).expect("serialises");
    let loaded: RunHistory = serde_json::from_str(&json).expect("loads");
    assert!(loaded == history, "the loaded history differs");
    assert_eq!(
        bits(loaded.first_layer_values(LayerMetric::ActivationGradNorm)),
        bits(&raw[0])
    );
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("json");
    value["summarised"]["first_step_layers"]["activation_grad_norm"]
        .as_array_mut()
        .expect("a list")
        .pop();
    let error = serde_json::from_value::<RunHistory>(value).expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("first step of activation_grad_norm"),
        "{error}"
    );

    // A history whose first step is still exact keeps no copy and writes none.
    let (short, short_raw) = wild_history(3, 20, budget, 12);
    assert!(!short.keeps_first_step() && !short.is_summarised());
    assert_eq!(
        bits(short.first_layer_values(LayerMetric::WeightGradNorm)),
        bits(&short_raw[0])
    );
    let json = serde_json::to_string(&short).expect("serialises");
    assert!(!json.contains("first_step_layers"));
}

#[test]
fn steps_find_their_columns_and_summarised_columns_their_buckets() {
    let budget = HistoryBudget::new(30, 4);
    let (history, _) = wild_history(2, 500, budget, 13);
    let (width, exact_start) = (history.bucket_steps(), history.exact_start());
    assert!(
        exact_start > width && !exact_start.is_multiple_of(width),
        "an open bucket"
    );
    assert_eq!(history.column_of(1), Some(0));
    assert_eq!(history.column_of(500), Some(499));
    assert_eq!(history.column_of(0), None);
    assert_eq!(history.column_of(501), None);
    // A full bucket, the open one (cut at the first exact step), and an exact column.
    assert_eq!(history.bucket_of(width + 1), Some(width..2 * width));
    let open = exact_start / width * width;
    assert_eq!(history.bucket_of(exact_start - 1), Some(open..exact_start));
    assert_eq!(history.bucket_of(exact_start), None);
}
