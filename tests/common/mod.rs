//! Helpers shared by the integration tests. Each test file compiles this module on its
//! own and uses only part of it.
#![allow(dead_code)]

use std::process::{Command, Output};

use egui_kittest::Harness;
use gradlab::config::{Config, apply_override};
use gradlab::ui::GradLabApp;

/// The default experiment with `key=value` overrides, validated.
pub fn config_with(assignments: &[&str]) -> Config {
    let mut config = Config::default();
    for assignment in assignments {
        config = apply_override(&config, assignment).expect("a valid override");
    }
    config.validate().expect("a valid config");
    config
}

/// Runs the binary with `args`, one compute thread as the app itself would use.
pub fn gradlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradlab"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("the gradlab binary starts")
}

/// Command output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The app headless in a 1280x800 window, its first run (not started) with the default
/// experiment's settings and `key=value` overrides.
pub fn app_harness(assignments: &[&str]) -> Harness<'static, GradLabApp> {
    let ctx = egui::Context::default();
    let mut app = GradLabApp::new(&ctx, None);
    for assignment in assignments {
        app.draft = apply_override(&app.draft, assignment).expect("a valid override");
    }
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, app: &mut GradLabApp| app.frame_ui(ui), app)
}
