//! The history's hot paths: appending a step, summarising a long run for the heatmap,
//! and drawing the heatmap figure of a long run.

mod common;

use common::{LAYERS, long_history, record};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gradlab::export::heatmap_png;
use gradlab::history::RunHistory;
use gradlab::train::LayerMetric;

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
