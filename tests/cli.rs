//! The command line as scripts use it: `gradlab run` writes its three files in the
//! contracted formats, bad flags fail with one clear line, `gradlab presets` lists the
//! built-in experiments.

mod common;

use common::{gradlab, text};

use std::collections::BTreeSet;
use std::path::Path;

use gradlab::run::FIGURE_SIZE;

/// Runs `gradlab run` with `args` and an output folder in a fresh temporary folder,
/// expects it to fail, and returns its one line of error. Nothing may be written.
fn run_error(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("out");
    let out_arg = out.to_str().expect("a UTF-8 path");
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--out", out_arg]);

    let output = gradlab(&full);
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "`gradlab {}` succeeded; stderr: {stderr}",
        full.join(" ")
    );
    assert_ne!(output.status.code(), None, "killed by a signal: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "`gradlab {}` should explain itself in one line, wrote:\n{stderr}",
        args.join(" ")
    );
    assert!(lines[0].starts_with("gradlab: "), "{}", lines[0]);
    assert!(!out.exists(), "a failed run wrote {}", out.display());
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

// ---------------------------------------------------------------------------
// A successful run

/// Width and height from a PNG's header: the signature, then the IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    assert!(bytes.len() > 24, "PNG of {} bytes", bytes.len());
    assert_eq!(bytes[..8], SIGNATURE, "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR", "PNG without IHDR first");
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

/// The metrics this file checks: the scalars and the two gradient norms of the contract.
/// Rows of other metrics are allowed (more are planned) and not checked here.
const CHECKED_METRICS: [&str; 5] = [
    "loss",
    "accuracy",
    "test_accuracy",
    "weight_grad_norm",
    "activation_grad_norm",
];

fn check_metrics(path: &Path, steps: u64, num_layers: usize) {
    let csv = std::fs::read_to_string(path).expect("metrics.csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("step,metric,index,value"));

    let mut rows = BTreeSet::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 4, "row `{line}`");
        let step: u64 = fields[0].parse().expect("a step number");
        let value: f64 = fields[3].parse().expect("a number");
        if !CHECKED_METRICS.contains(&fields[1]) {
            continue;
        }
        assert!(value.is_finite(), "row `{line}` of a healthy run");
        let row = (step, fields[1].to_owned(), fields[2].to_owned());
        assert!(rows.insert(row), "duplicate row `{line}`");
    }

    let mut expected = BTreeSet::new();
    for step in 1..=steps {
        expected.insert((step, "loss".to_owned(), String::new()));
        expected.insert((step, "accuracy".to_owned(), String::new()));
        for metric in ["weight_grad_norm", "activation_grad_norm"] {
            for layer in 1..=num_layers {
                expected.insert((step, metric.to_owned(), layer.to_string()));
            }
        }
    }
    // Test accuracy is measured at the last step of every run.
    expected.insert((steps, "test_accuracy".to_owned(), String::new()));
    assert_eq!(rows, expected);
}

#[test]
fn run_writes_session_metrics_and_heatmap() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // A folder that does not exist yet: the run creates it.
    let out = dir.path().join("results").join("depth4");
    let out_arg = out.to_str().expect("a UTF-8 path");
    let output = gradlab(&[
        "run",
        "--steps",
        "30",
        "--set",
        "model.depth=4",
        "--out",
        out_arg,
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("steps: 30"));

    // 4 hidden layers and the output layer.
    check_metrics(&out.join("metrics.csv"), 30, 5);

    let session = std::fs::read_to_string(out.join("session.json")).expect("session.json");
    let session: serde_json::Value = serde_json::from_str(&session).expect("valid JSON");
    assert_eq!(session["schema_version"], 1);
    let config = &session["runs"][0]["config"];
    assert_eq!(config["model"]["depth"], 4);
    assert_eq!(config["train"]["steps"], 30);

    let png = std::fs::read(out.join("heatmap.png")).expect("heatmap.png");
    assert_eq!(FIGURE_SIZE, (1400, 800));
    assert_eq!(png_size(&png), FIGURE_SIZE);
}

#[test]
fn run_reads_a_config_file() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("experiment.json");
    std::fs::write(
        &config,
        r#"{"seed": 3, "task": {"kind": "moons"}, "model": {"depth": 2, "width": 8},
            "train": {"steps": 5}}"#,
    )
    .expect("write the config");
    let out = dir.path().join("out");
    let output = gradlab(&[
        "run",
        "--config",
        config.to_str().expect("a UTF-8 path"),
        "--out",
        out.to_str().expect("a UTF-8 path"),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    check_metrics(&out.join("metrics.csv"), 5, 3);
}

#[test]
fn presets_lists_the_built_in_experiments() {
    let output = gradlab(&["presets"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for preset in gradlab::presets::PRESETS {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(preset.name))
            .unwrap_or_else(|| panic!("`{}` is not listed in:\n{stdout}", preset.name));
        assert!(line.contains(preset.description), "{line}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("deep_sigmoid ")));
}

// ---------------------------------------------------------------------------
// Bad flags: one line naming the key, the value and what is allowed

#[test]
fn unknown_key_is_named_with_the_allowed_keys() {
    let message = run_error(&["--set", "model.dept=3"]);
    assert_mentions(
        &message,
        &["model.dept`", "allowed", "model.depth", "train.lr"],
    );
}

#[test]
fn out_of_range_value_names_key_value_and_range() {
    let message = run_error(&["--set", "model.depth=0"]);
    assert_mentions(&message, &["model.depth", "0", "1 to 100"]);
    let message = run_error(&["--steps", "0"]);
    assert_mentions(&message, &["train.steps", "0", "1 to 10000000"]);
}

#[test]
fn wrong_type_names_key_value_and_expected_type() {
    let message = run_error(&["--set", "model.depth=many"]);
    assert_mentions(&message, &["model.depth", "many", "expected"]);
}

#[test]
fn unknown_choice_lists_the_allowed_values() {
    let message = run_error(&["--set", "model.activation=swoosh"]);
    assert_mentions(
        &message,
        &[
            "model.activation",
            "swoosh",
            "sigmoid",
            "tanh",
            "relu",
            "leaky_relu",
        ],
    );
}

#[test]
fn assignment_without_value_is_explained() {
    let message = run_error(&["--set", "model.depth"]);
    assert_mentions(&message, &["model.depth", "key=value"]);
}

#[test]
fn bench_refuses_to_time_nothing() {
    for (args, allowed) in [
        (["bench", "w1", "--runs", "0"], "1..=1000"),
        (["bench", "w1", "--steps", "0"], "1..=1000000"),
    ] {
        let output = gradlab(&args);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "`{}` succeeded", args.join(" "));
        let first = stderr.lines().next().unwrap_or_default();
        assert_mentions(first, &[args[2], "'0'", allowed]);
    }
}

#[test]
fn bench_refuses_negative_counts_as_values() {
    for (args, allowed) in [
        (["bench", "w1", "--threads", "-1"], "1..=64"),
        (["bench", "w1", "--runs", "-3"], "1..=1000"),
        (["bench", "w1", "--steps", "-1"], "1..=1000000"),
        (["bench", "w1", "--warmup", "-5"], "0..=1000000"),
    ] {
        let output = gradlab(&args);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "`{}` succeeded", args.join(" "));
        assert_mentions(&stderr, &[args[3], allowed]);
        assert!(!stderr.contains("-- -"), "{stderr}");
    }
}

#[test]
fn unknown_preset_lists_the_presets() {
    let message = run_error(&["--preset", "no_such_preset"]);
    assert_mentions(&message, &["no_such_preset", "deep_sigmoid", "huge_init"]);
}

#[test]
fn missing_config_file_is_named() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("missing.json");
    let message = run_error(&["--config", path.to_str().expect("a UTF-8 path")]);
    assert_mentions(&message, &["missing.json", "could not read"]);
}

#[test]
fn malformed_config_files_are_named_with_the_problem() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let cases = [
        ("truncated.json", r#"{"seed": 1, "model": {"#, "EOF"),
        ("typo.json", r#"{"modle": {"depth": 3}}"#, "modle"),
        ("range.json", r#"{"model": {"width": 0}}"#, "model.width=0"),
    ];
    for (name, contents, problem) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write the config");
        let message = run_error(&["--config", path.to_str().expect("a UTF-8 path")]);
        assert_mentions(&message, &[name, problem]);
    }
}
