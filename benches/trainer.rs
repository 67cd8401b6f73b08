//! One training step of the default experiment and of each reference workload, every
//! probe on, as the app runs them; and the machine's matrix-product speed, the
//! roofline the wide MLPs are measured against.

use candle_core::{Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
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

/// A step of each of `workloads`, named as given.
fn workload_steps(c: &mut Criterion, workloads: &[(Workload, &str)]) {
    for &(workload, name) in workloads {
        if let Ok(config) = workload.config() {
            step_of(c, name, &config);
        }
    }
}

/// The recurrent workloads: 100 time steps, forward and back through time.
fn recurrent_steps(c: &mut Criterion) {
    workload_steps(
        c,
        &[
            (Workload::Rnn, "step/rnn tanh H64 T100 batch 64"),
            (Workload::Lstm, "step/lstm H64 T100 batch 64"),
        ],
    );
}

/// The 50 × 256 MLPs, with and without batch norm: about 4.9 GFLOP a step each.
fn wide_steps(c: &mut Criterion) {
    workload_steps(
        c,
        &[
            (Workload::W2nobn, "step/w2nobn 50x256 relu batch 256"),
            (Workload::W2, "step/w2 50x256 relu batch-norm batch 256"),
        ],
    );
}

/// Square f32 products through candle, on as many threads as `RAYON_NUM_THREADS` says
/// (run with 1 and with 2 for the roofline of one core and of two); the throughput
/// criterion prints ("elem/s") is floating-point operations a second.
fn products(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    for n in [256usize, 1024] {
        let (Ok(a), Ok(b)) = (
            Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu),
            Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu),
        ) else {
            eprintln!("matmul: cannot make the operands");
            return;
        };
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        group.bench_function(format!("{n}^3"), |bench| {
            bench.iter(|| a.matmul(&b).map(|p| p.dims().len()).unwrap_or(0));
        });
    }
    group.finish();
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
criterion_group! {
    name = wide;
    config = Criterion::default().without_plots().sample_size(10);
    targets = wide_steps, products
}
criterion_main!(benches, recurrent, wide);
