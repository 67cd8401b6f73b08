//! `gradlab run --sweep` through the command line: one folder per value with the usual
//! files and the right setting, one combined session with every run, comparison
//! figures, a diverged run that does not stop the others, and bad sweeps refused in one
//! line before anything is written.

mod common;

use common::{gradlab, text};

use std::path::Path;

use gradlab::run::FIGURE_SIZE;

/// A net small and short enough that a run takes a fraction of a second.
const TINY: [&str; 8] = [
    "--set",
    "task.kind=moons",
    "--set",
    "model.width=8",
    "--set",
    "model.depth=2",
    "--steps",
    "6",
];

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes the PNG at `path` in full and returns its size.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
    let format = image::guess_format(&bytes).expect("a known image format");
    assert_eq!(format, image::ImageFormat::Png, "{}", path.display());
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    (image.width(), image.height())
}

/// Runs a sweep into a fresh folder and returns the folder and the command's stdout.
fn sweep(args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("sweep");
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--out", out.to_str().expect("a UTF-8 path")]);
    let output = gradlab(&full);
    assert!(
        output.status.success(),
        "`gradlab {}` failed: {}",
        full.join(" "),
        text(&output.stderr)
    );
    (dir, text(&output.stdout))
}

// ---------------------------------------------------------------------------
// Successful sweeps

#[test]
fn depth_sweep_writes_a_folder_per_value_and_a_combined_session() {
    let mut args = TINY.to_vec();
    args.extend_from_slice(&["--sweep", "model.depth=1,3,5"]);
    let (dir, stdout) = sweep(&args);
    let out = dir.path().join("sweep");

    let mut folders: Vec<String> = std::fs::read_dir(&out)
        .expect("the output folder")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        ["model.depth=1", "model.depth=3", "model.depth=5"],
        "run folders"
    );

    for depth in [1u64, 3, 5] {
        let folder = out.join(format!("model.depth={depth}"));
        let session = read_json(&folder.join("session.json"));
        let runs = session["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1);
        let config = &runs[0]["config"];
        assert_eq!(config["model"]["depth"], depth, "the swept key");
        // The other settings are those of the command line, for every run.
        assert_eq!(config["model"]["width"], 8);
        assert_eq!(config["task"]["kind"], "moons");
        assert_eq!(config["train"]["steps"], 6);
        // Hidden layers plus the output layer.
        assert_eq!(runs[0]["history"]["num_layers"], depth + 1);
        assert_eq!(runs[0]["history"]["loss"].as_array().map(Vec::len), Some(6));

        let csv = std::fs::read_to_string(folder.join("metrics.csv")).expect("metrics.csv");
        assert!(csv.starts_with("step,metric,index,value\n"));
        assert_eq!(png_size(&folder.join("heatmap.png")), FIGURE_SIZE);
    }

    let combined = read_json(&out.join("session.json"));
    assert_eq!(combined["schema_version"], 1);
    let runs = combined["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 3, "one run per value");
    for (run, depth) in runs.iter().zip([1u64, 3, 5]) {
        assert_eq!(run["name"], format!("model.depth={depth}"));
        assert_eq!(run["config"]["model"]["depth"], depth);
    }
    // The combined session is a valid session in the eyes of the library.
    let loaded = gradlab::session::Session::load_without_state(&out.join("session.json"))
        .expect("the combined session loads");
    assert_eq!(loaded.runs.len(), 3);

    for figure in ["comparison-heatmaps.png", "comparison-loss.png"] {
        assert_eq!(png_size(&out.join(figure)), FIGURE_SIZE, "{figure}");
    }

    // The summary has a row per run and says none diverged.
    for depth in [1, 3, 5] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("model.depth={depth} ")))
            .unwrap_or_else(|| panic!("no summary row for depth {depth} in:\n{stdout}"));
        assert!(row.contains('%'), "no test accuracy in `{row}`");
    }
    assert!(stdout.contains("all 3 runs"), "{stdout}");
}

#[test]
fn activation_sweep_names_folders_and_runs_by_value() {
    let mut args = TINY.to_vec();
    args.extend_from_slice(&["--sweep", "model.activation=tanh,relu"]);
    let (dir, _) = sweep(&args);
    let out = dir.path().join("sweep");
    for activation in ["tanh", "relu"] {
        let session = read_json(&out.join(format!("model.activation={activation}/session.json")));
        assert_eq!(
            session["runs"][0]["config"]["model"]["activation"],
            activation
        );
    }
    let combined = read_json(&out.join("session.json"));
    let names: Vec<&str> = combined["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["model.activation=tanh", "model.activation=relu"]);
}

/// Weights of N(0, 1) in a 10-layer ReLU net overflow at step 2 (see
/// tests/diagnosis_runs.rs); N(0, 0.2²) trains. The diverged run is recorded and
/// named, and the run after it still trains to the end.
#[test]
fn a_diverged_run_does_not_stop_the_sweep() {
    let (dir, stdout) = sweep(&[
        "--set",
        "model.activation=relu",
        "--set",
        "model.init=normal",
        "--set",
        "model.depth=10",
        "--steps",
        "8",
        "--sweep",
        "model.init_scale=1,0.2",
    ]);
    let out = dir.path().join("sweep");

    let combined = read_json(&out.join("session.json"));
    let runs = combined["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    let steps = |run: &serde_json::Value| run["history"]["loss"].as_array().map(Vec::len);
    let diverged_steps = steps(&runs[0]).expect("a loss series");
    assert!(
        (1..8).contains(&diverged_steps),
        "the diverged run stopped after {diverged_steps} steps"
    );
    assert_eq!(
        steps(&runs[1]),
        Some(8),
        "the run after it trained to the end"
    );
    assert!(out.join("model.init_scale=0.2/session.json").exists());

    let row = stdout
        .lines()
        .find(|l| l.starts_with("model.init_scale=1 "))
        .unwrap_or_else(|| panic!("no row for the diverged run in:\n{stdout}"));
    assert!(row.contains("diverged at step"), "{row}");
    assert!(row.contains("of 8"), "{row}");
    assert!(
        stdout.contains("1 of 2 runs diverged and stopped early: model.init_scale=1"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------
// Bad sweeps: exit status 1, one line naming the key or value and what is allowed,
// and nothing written

fn sweep_error(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("out");
    let mut full = vec!["run"];
    full.extend_from_slice(&TINY);
    full.extend_from_slice(args);
    full.extend_from_slice(&["--out", out.to_str().expect("a UTF-8 path")]);

    let output = gradlab(&full);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "`gradlab {}`: {stderr}",
        full.join(" ")
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error, wrote:\n{stderr}");
    assert!(lines[0].starts_with("gradlab: "), "{}", lines[0]);
    assert!(!out.exists(), "a refused sweep wrote {}", out.display());
    assert!(
        text(&output.stdout).is_empty(),
        "a refused sweep printed {}",
        text(&output.stdout)
    );
    lines[0].to_owned()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "`{message}` does not mention `{part}`"
        );
    }
}

#[test]
fn unknown_key_is_refused_with_the_allowed_keys() {
    let message = sweep_error(&["--sweep", "model.dept=2,3"]);
    assert_mentions(
        &message,
        &["--sweep", "model.dept`", "allowed", "model.depth"],
    );
}

#[test]
fn a_bad_value_is_named_with_what_is_allowed() {
    // The bad value comes last, so that nothing may train before it is checked.
    let message = sweep_error(&["--sweep", "model.depth=2,3,0"]);
    assert_mentions(&message, &["--sweep", "`0`", "model.depth=0", "1 to 100"]);
    let message = sweep_error(&["--sweep", "model.depth=2,many"]);
    assert_mentions(
        &message,
        &["`many`", "model.depth", "expected a whole number"],
    );
    let message = sweep_error(&["--sweep", "model.activation=tanh,swoosh"]);
    assert_mentions(
        &message,
        &["swoosh", "model.activation", "sigmoid", "leaky_relu"],
    );
}

#[test]
fn duplicate_values_are_refused() {
    let message = sweep_error(&["--sweep", "model.depth=2,3,2"]);
    assert_mentions(&message, &["model.depth", "`2` and `2`", "must differ"]);
    // Different spellings of one number are one setting.
    let message = sweep_error(&["--sweep", "train.lr=0.1,0.10"]);
    assert_mentions(&message, &["train.lr", "`0.1` and `0.10`", "same setting"]);
}

#[test]
fn a_sweep_needs_two_values_and_a_key() {
    let message = sweep_error(&["--sweep", "model.depth=4"]);
    assert_mentions(&message, &["model.depth=4", "at least two values"]);
    let message = sweep_error(&["--sweep", "model.depth=4,,5"]);
    assert_mentions(&message, &["model.depth=4,,5", "value 2 is empty"]);
    let message = sweep_error(&["--sweep", "model.depth"]);
    assert_mentions(&message, &["model.depth", "KEY=V1,V2"]);
}

#[test]
fn resume_with_sweep_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("out");
    let output = gradlab(&[
        "run",
        "--resume",
        "any-session.json",
        "--steps",
        "3",
        "--sweep",
        "model.depth=2,3",
        "--out",
        out.to_str().expect("a UTF-8 path"),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_mentions(&stderr, &["--resume", "--sweep", "cannot be combined"]);
    assert!(!out.exists());
}
