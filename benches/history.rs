//! The history's hot paths: appending a step, summarising a long run for the heatmap,
//! and drawing the heatmap figure of a long run.

mod common;

use common::{DEEP_LAYERS, LAYERS, deep_history, deep_record, long_history, record};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gradlab::colormap::cell_rgb;
use gradlab::export::heatmap_png;
use gradlab::history::RunHistory;
use gradlab::train::LayerMetric;

/// Columns of the app's heatmap texture, drawn across a 1920-pixel-wide window.
const TEXTURE_COLUMNS: usize = 2048;

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

/// The run of issue #7: 100 layers, every MLP metric, a million steps.
fn deep_paths(c: &mut Criterion) {
    let steps = 1_000_000;
    let mut history = deep_history(steps);
    eprintln!(
        "history of {DEEP_LAYERS} layers x {steps} steps: {} heap bytes (bound {}), {} exact steps from step {}, buckets of {} steps",
        history.heap_bytes(),
        history.heap_bytes_bound(),
        history.len() - history.exact_start(),
        history.step_of(history.exact_start()),
        history.bucket_steps(),
    );
    match serde_json::to_vec(&history) {
        Ok(json) => eprintln!("its session JSON: {} bytes", json.len()),
        Err(err) => eprintln!("its session JSON: not written ({err})"),
    }

    // Every column of the texture, every row: what a rebuild of the heatmap computes
    // (a new decade on the colour scale, or a switch of metric).
    let metric = LayerMetric::WeightGradNorm;
    c.bench_function("history/heatmap columns of 1M steps x 100 layers", |b| {
        b.iter(|| {
            let per_column = history.len().div_ceil(TEXTURE_COLUMNS).next_power_of_two();
            let range = history.color_range(metric);
            let mut pixels = Vec::with_capacity(TEXTURE_COLUMNS * DEEP_LAYERS);
            for start in (0..history.len()).step_by(per_column) {
                for layer in 0..DEEP_LAYERS {
                    let summary = history.summarize(metric, layer, start..start + per_column);
                    pixels.push(cell_rgb(summary.display(metric.scale()), &range));
                }
            }
            pixels
        });
    });

    let dir = std::env::temp_dir().join("gradlab-bench-figure");
    let path = dir.join("deep-heatmap.png");
    c.bench_function("figure/heatmap png of 1M steps x 100 layers", |b| {
        b.iter(|| heatmap_png(&history, metric, "bench", &path, (1400, 800)).is_ok());
    });

    // Appending past the budget: the folds' cost is spread over the steps.
    let mut step = steps;
    c.bench_function("history/append a step of 100 layers, folding", |b| {
        b.iter(|| {
            step += 1;
            history.push(&deep_record(step))
        });
    });
}

criterion_group! {
    name = benches;
    // The lab's figure fonts replace the system fonts criterion's plots would use.
    config = Criterion::default().without_plots();
    targets = history_paths, deep_paths
}
criterion_main!(benches);
