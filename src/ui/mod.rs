//! The egui app: one panel or widget per file, wired together in [`app`].

mod app;
mod colorbar;
mod compare;
mod compare_curves;
mod curves;
mod diagnosis_line;
mod files;
mod flow_chart;
mod guide;
mod heatmap;
mod panels;
mod profile;
mod run_controls;
mod run_list;
mod screenshot;
mod session_browser;
mod status;
mod sweep_dialog;
mod theme;

pub use app::{GradLabApp, LiveRun, Notice, Phase, RECOVERY_FILE};

use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;

/// Opens the window on the default experiment, or on the session at `open`.
pub fn run_app(open: Option<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title("Gradient Lab")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([900.0, 600.0]),
        ..Default::default()
    };
    let started = Instant::now();
    eframe::run_native(
        "Gradient Lab",
        options,
        Box::new(move |cc| {
            Ok(Box::new(Timed {
                app: GradLabApp::new(&cc.egui_ctx, open),
                started: Some(started),
            }))
        }),
    )
    .map_err(|err| anyhow!("could not open the window: {err}"))
}

/// The app, saying once how long the window took to show its first frame.
struct Timed {
    app: GradLabApp,
    started: Option<Instant>,
}

impl eframe::App for Timed {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.app.ui(ui, frame);
        if let Some(started) = self.started.take() {
            log::info!(
                "first frame laid out {:.0} ms after start",
                started.elapsed().as_secs_f64() * 1e3
            );
        }
    }

    fn on_exit(&mut self, gl: Option<&eframe::glow::Context>) {
        self.app.on_exit(gl);
    }
}
