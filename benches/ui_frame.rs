//! The CPU cost of one frame of the app (layout and drawing commands, without the
//! GPU) with a 20,000-step run of the default experiment on screen: the budget for 60
//! frames a second is 16.7 ms, shared with the rasteriser.

mod common;

use common::{deep_history, long_history};
use criterion::{Criterion, criterion_group, criterion_main};
use egui_kittest::Harness;
use gradlab::presets;
use gradlab::ui::{GradLabApp, LiveRun};

const STEPS: u64 = 20_000;
fn frame(c: &mut Criterion) {
    let history = long_history(STEPS);
    let ctx = egui::Context::default();
    let mut app = GradLabApp::new(&ctx, None);
    app.add_run(LiveRun::from_history(
        100,
        presets::default_config(),
        history,
    ));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut GradLabApp| app.frame_ui(ui), app);
    // The first frames build the texture; the rest redraw what is there.
    harness.run_steps(3);
    c.bench_function("ui/frame with a 20k-step run on screen", |b| {
        b.iter(|| harness.step())
    });
}

/// A frame at 1920 × 1000 with a 100-layer, 1,000,000-step run on screen: the heatmap
/// texture is built in the first frames; each frame after that draws it (a training
/// run would add the columns of its new steps alone).
fn deep_frame(c: &mut Criterion) {
    let steps = 1_000_000;
    let mut config = presets::default_config();
    config.model.depth = 99;
    let ctx = egui::Context::default();
    let mut app = GradLabApp::new(&ctx, None);
    app.add_run(LiveRun::from_history(101, config, deep_history(steps)));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1920.0, 1000.0))
        .build_ui_state(|ui, app: &mut GradLabApp| app.frame_ui(ui), app);
    harness.run_steps(3);
    c.bench_function("ui/frame at 1920 px with a 100-layer 1M-step run", |b| {
        b.iter(|| harness.step())
    });
}

criterion_group! {
    name = benches;
    // The lab's figure fonts replace the system fonts criterion's plots would use.
    config = Criterion::default().without_plots();
    targets = frame, deep_frame
}
criterion_main!(benches);
