//! One training step of the default experiment and of the w1 reference workload,
//! every probe on, as the app runs them.

use criterion::{Criterion, criterion_group, criterion_main};
use gradlab::bench::Workload;
use gradlab::config::Config;
use gradlab::presets;
use gradlab::train::Trainer;

/// The allocator the app runs with (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn step_of(c: &mut Criterion, name: &str, config: &Config) {
    let Ok(mut trainer) = Trainer::new(config) else {
        eprintln!("{name}: the configuration does not build");
        return;
    };
    c.bench_function(name, |b| {
        b.iter(|| trainer.step().map(|r| r.loss).unwrap_or(f64::NAN));
    });
}

fn trainer_steps(c: &mut Criterion) {
    step_of(
        c,
        "step/default 20x64 sigmoid digits",
        &presets::default_config(),
    );
    if let Ok(config) = Workload::W1.config() {
        step_of(c, "step/w1 20x64 sigmoid batch 128", &config);
    }
}

/// The recurrent workloads: 100 time steps, forward and back through time.
fn recurrent_steps(c: &mut Criterion) {
    for (workload, name) in [
        (Workload::Rnn, "step/rnn tanh H64 T100 batch 64"),
        (Workload::Lstm, "step/lstm H64 T100 batch 64"),
    ] {
        if let Ok(config) = workload.config() {
            step_of(c, name, &config);
        }
    }
}

criterion_group! {
    name = benches;
    // The lab's figure fonts replace the system fonts criterion's plots would use.
    config = Criterion::default().without_plots();
    targets = trainer_steps
}
criterion_group! {
    name = recurrent;
    config = Criterion::default().without_plots().sample_size(20);
    targets = recurrent_steps
}
criterion_main!(benches, recurrent);
