//! The history's hot paths: appending a step, summarising a long run for the heatmap,
//! and drawing the heatmap figure of a long run.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gradlab::export::heatmap_png;
use gradlab::history::RunHistory;
use gradlab::train::{LayerMetric, StepRecord};

const LAYERS: usize = 21;

/// A record whose norms fall by a decade a layer, as in a deep sigmoid net.
fn record(step: u64) -> StepRecord {
    let falling: Vec<f64> = (0..LAYERS)
        .map(|l| 10f64.powi(l as i32 - 20) * (1.0 + (step % 7) as f64 * 0.01))
        .collect();
    StepRecord {
        step,
        loss: 2.3,
        accuracy: 0.1,
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

fn long_history(steps: u64) -> RunHistory {
    let mut history = RunHistory::new(LAYERS);
    for step in 1..=steps {
        history.push(&record(step));
    }
    history
}

fn history_paths(c: &mut Criterion) {
    let one = record(1);
    c.bench_function("history/append a step of 21 layers", |b| {
        b.iter_batched_ref(
            || RunHistory::new(LAYERS),
            |history| history.push(&one),
            BatchSize::SmallInput,
        );
    });

    let history = long_history(20_000);
    c.bench_function(
        "history/summarise 20k steps into 2048 columns x 21 layers",
        |b| {
            b.iter(|| {
                let per_column = history.len().div_ceil(2048);
                let mut count = 0;
                for start in (0..history.len()).step_by(per_column) {
                    for layer in 0..LAYERS {
                        count += history
                            .summarize(
                                LayerMetric::WeightGradNorm,
                                layer,
                                start..start + per_column,
                            )
                            .count;
                    }
                }
                count
            });
        },
    );

    let dir = std::env::temp_dir().join("gradlab-bench-figure");
    let path = dir.join("heatmap.png");
    c.bench_function("figure/heatmap png of 20k steps", |b| {
        b.iter(|| {
            heatmap_png(
                &history,
                LayerMetric::WeightGradNorm,
                "bench",
                &path,
                (1400, 800),
            )
            .is_ok()
        });
    });
}

criterion_group! {
    name = benches;
    // The lab's figure fonts replace the system fonts criterion's plots would use.
    config = Criterion::default().without_plots();
    targets = history_paths
}
criterion_main!(benches);
