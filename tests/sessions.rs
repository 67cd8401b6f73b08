//! Sessions on disk: continuing through the CLI equals an uninterrupted run, and every
//! kind of bad session file is refused with a message, never a panic, and never by
//! touching the files.

mod common;

use std::path::{Path, PathBuf};

use common::gradlab;
use gradlab::session::{Session, SessionError};
use proptest::prelude::*;

fn run_ok(args: &[&str]) {
    let output = gradlab(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The CSV rows of steps after `after`.
fn rows_after(dir: &Path, after: u64) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).expect("metrics.csv exists");
    text.lines()
        .skip(1)
        .filter(|line| {
            line.split(',')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|s| s > after)
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn resume_through_the_cli_equals_one_uninterrupted_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // Adam and dropout carry state beyond the weights.
    let settings = [
        "--set",
        "model.depth=4",
        "--set",
        "train.optimizer=adam",
        "--set",
        "train.lr=0.003",
        "--set",
        "model.dropout=0.2",
    ];

    let first_dir = path("first");
    let mut args = vec!["run", "--steps", "30", "--out", first_dir.as_str()];
    args.extend(settings);
    run_ok(&args);

    let session = format!("{first_dir}/session.json");
    let resumed_dir = path("resumed");
    run_ok(&[
        "run",
        "--resume",
        session.as_str(),
        "--steps",
        "20",
        "--out",
        resumed_dir.as_str(),
    ]);

    let whole_dir = path("whole");
    let mut args = vec!["run", "--steps", "50", "--out", whole_dir.as_str()];
    args.extend(settings);
    run_ok(&args);

    let resumed = rows_after(Path::new(&resumed_dir), 30);
    let whole = rows_after(Path::new(&whole_dir), 30);
    assert!(!resumed.is_empty());
    assert_eq!(
        resumed, whole,
        "steps 31–50 differ between the resumed and the uninterrupted run"
    );
}

/// A directory holding a valid 5-step session of a small net, and its path.
fn valid_session() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("s");
    let out_str = out.to_string_lossy().into_owned();
    run_ok(&[
        "run",
        "--steps",
        "5",
        "--set",
        "model.depth=2",
        "--set",
        "model.width=4",
        "--out",
        out_str.as_str(),
    ]);
    (dir, out.join("session.json"))
}

fn sidecar_of(session: &Path) -> PathBuf {
    let folder = session.parent().expect("has a folder");
    std::fs::read_dir(folder)
        .expect("folder reads")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .expect("a sidecar was written")
}

/// Loads `text` as the session file (its sidecar stays as written) and returns the
/// error message; the files must be left exactly as they were.
fn load_error(session: &Path, text: &str) -> String {
    std::fs::write(session, text).expect("write");
    let sidecar = sidecar_of(session);
    let sidecar_before = std::fs::read(&sidecar).expect("sidecar reads");
    let result = Session::load_with_checkpoints(session);
    assert_eq!(
        std::fs::read_to_string(session).expect("reads"),
        text,
        "the session file was touched"
    );
    assert_eq!(
        std::fs::read(&sidecar).expect("reads"),
        sidecar_before,
        "the sidecar was touched"
    );
    match result {
        Ok(_) => panic!("accepted a bad session: {}", &text[..text.len().min(200)]),
        Err(err) => err.to_string(),
    }
}

#[test]
fn every_kind_of_bad_session_file_gets_a_clear_message() {
    let (_dir, session) = valid_session();
    let good = std::fs::read_to_string(&session).expect("reads");
    assert!(Session::load_with_checkpoints(&session).is_ok());
    let sidecar_name = sidecar_of(&session)
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();

    let cases: Vec<(&str, String, &str)> = vec![
        ("not JSON", "this is not json".into(), "not valid JSON"),
        (
            "truncated",
            good[..good.len() / 2].into(),
            "not a Gradient Lab session",
        ),
        (
            "wrong shape",
            r#"{"schema_version": 1, "runs": {"a": 1}}"#.into(),
            "invalid type",
        ),
        (
            "newer version",
            good.replacen("\"schema_version\":1", "\"schema_version\":7", 1),
            "session format 7",
        ),
        (
            "out of range",
            good.replace("\"depth\":2", "\"depth\":1000"),
            "model.depth=1000",
        ),
        (
            "NaN where none is allowed",
            good.replace("\"lr\":0.1", "\"lr\":\"NaN\""),
            "invalid type",
        ),
        (
            "lengths disagree",
            good.replacen("\"first_step\":1", "\"first_step\":3", 1),
            "step",
        ),
        (
            "missing sidecar",
            good.replace(&sidecar_name, "session.run1.00000000.safetensors"),
            "cannot be read",
        ),
        (
            "sidecar outside the folder",
            good.replace(&sidecar_name, "../elsewhere.safetensors"),
            "not a file name",
        ),
        (
            "absolute sidecar path",
            good.replace(&sidecar_name, "/etc/passwd"),
            "not a file name",
        ),
    ];
    for (what, text, expected) in cases {
        assert_ne!(text, good, "{what}: the mutation did not apply");
        let message = load_error(&session, &text);
        assert!(message.contains(expected), "{what}: {message}");
    }
    std::fs::write(&session, &good).expect("restore");
}

#[test]
fn a_damaged_sidecar_is_refused() {
    let (_dir, session) = valid_session();
    let sidecar = sidecar_of(&session);
    let mut bytes = std::fs::read(&sidecar).expect("reads");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&sidecar, &bytes).expect("write");
    let message = Session::load_with_checkpoints(&session)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("checksum"), "{message}");

    std::fs::write(&sidecar, &bytes[..middle]).expect("write");
    let message = Session::load_with_checkpoints(&session)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("bytes"), "{message}");
}

#[test]
fn a_file_far_too_large_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.json");
    let file = std::fs::File::create(&path).expect("create");
    // Sparse: no disk is used, and the loader must not try to read it.
    file.set_len(600 * 1024 * 1024).expect("set_len");
    let err = Session::load(&path).err();
    assert!(
        matches!(err, Some(SessionError::TooLarge { .. })),
        "{err:?}"
    );
}

#[test]
fn cli_names_a_bad_session_and_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{").expect("write");
    let bad = bad.to_string_lossy().into_owned();
    let out = dir.path().join("out").to_string_lossy().into_owned();
    let output = gradlab(&[
        "run",
        "--resume",
        bad.as_str(),
        "--steps",
        "3",
        "--out",
        out.as_str(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.json"), "{stderr}");
    assert!(
        !Path::new(&out).exists(),
        "nothing may be written for a bad session"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Mutated session files (bytes flipped, cut, duplicated) never make the loader
    /// panic: each is either accepted or refused with an error.
    #[test]
    fn mutated_sessions_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let (dir, session) = SHARED.with(|s| s.clone());
        let _keep = dir;
        let mut bytes = std::fs::read(&session).expect("reads");
        for (index, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let at = index.index(bytes.len());
            match kind {
                0 => bytes[at] = byte,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, byte),
            }
        }
        let mutated = session.with_file_name("mutated.json");
        std::fs::write(&mutated, &bytes).expect("write");
        let _ = Session::load_with_checkpoints(&mutated);
    }
}

thread_local! {
    static SHARED: (std::sync::Arc<tempfile::TempDir>, PathBuf) = {
        let (dir, path) = valid_session();
        (std::sync::Arc::new(dir), path)
    };
}
