//! The CPU cost of one frame of the app (layout and drawing commands, without the
//! GPU) with a 20,000-step run of the default experiment on screen: the budget for 60
//! frames a second is 16.7 ms, shared with the rasteriser.

use criterion::{Criterion, criterion_group, criterion_main};
use egui_kittest::Harness;
use gradlab::history::RunHistory;
use gradlab::presets;
use gradlab::train::StepRecord;
use gradlab::ui::{GradLabApp, LiveRun};

const STEPS: u64 = 20_000;
const LAYERS: usize = 21;

fn record(step: u64) -> StepRecord {
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

fn frame(c: &mut Criterion) {
    let mut history = RunHistory::new(LAYERS);
    for step in 1..=STEPS {
        history.push(&record(step));
    }
    let ctx = egui::Context::default();
    let mut app = GradLabApp::new(&ctx, None);
    app.run = Some(LiveRun::from_history(1, presets::default_config(), history));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut GradLabApp| app.frame_ui(ui), app);
    // The first frames build the texture; the rest redraw what is there.
    harness.run_steps(3);
    c.bench_function("ui/frame with a 20k-step run on screen", |b| {
        b.iter(|| harness.step())
    });
}

criterion_group! {
    name = benches;
    // The lab's figure fonts replace the system fonts criterion's plots would use.
    config = Criterion::default().without_plots();
    targets = frame
}
criterion_main!(benches);
