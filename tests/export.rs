//! Figures for reports and `gradlab export`: every figure decodes as a PNG or parses as
//! an SVG of exactly the requested size and is not blank; runs compared side by side
//! share one colour scale; a divergence is marked; the command writes the expected
//! files for a saved session and nothing for a bad one.

mod common;

use common::{gradlab, text};

use std::collections::BTreeSet;
use std::path::Path;

use gradlab::config::Config;
use gradlab::export::{
    Figure, FigureFormat, FigureSize, heatmap_png, metrics_csv, shared_color_range,
};
use gradlab::history::RunHistory;
use gradlab::session::{SavedRun, Session};
use gradlab::train::{LayerMetric, StepRecord};

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// A made-up history of `steps` steps: layer l's gradient norm is `scale` times
/// 10^-(layers-l), the loss falls from 2.3; `diverge_at` makes that step's loss NaN.
fn history(num_layers: usize, steps: u64, scale: f64, diverge_at: Option<u64>) -> RunHistory {
    let mut history = RunHistory::new(num_layers);
    for step in 1..=steps {
        let per_layer = |f: &dyn Fn(usize) -> f64| (0..num_layers).map(f).collect::<Vec<_>>();
        let norms = per_layer(&|l| scale * 10f64.powi(l as i32 - num_layers as i32));
        let wobble = (step as f64 * 0.7).sin() * 0.05;
        let diverged = diverge_at == Some(step);
        let record = StepRecord {
            step,
            loss: if diverged {
                f64::NAN
            } else {
                2.3 / (1.0 + step as f64 / 50.0) + wobble
            },
            accuracy: (step as f64 / steps as f64).min(1.0),
            test_accuracy: step.is_multiple_of(10).then_some(0.5),
            lr: 0.1,
            grad_norm_total: 1.0,
            grad_norm_clipped: 1.0,
            weight_grad_norm: norms.clone(),
            activation_grad_norm: per_layer(&|l| if l == 0 { 0.0 } else { norms[l] * 2.0 }),
            update_ratio: per_layer(&|_| 1e-3),
            saturated_fraction: per_layer(&|l| l as f64 / num_layers as f64),
            dead_fraction: per_layer(&|_| 0.0),
            activation_mean: per_layer(&|l| l as f64 * 0.1 - 0.2),
            activation_std: per_layer(&|_| 0.5),
            prelu_slope: Vec::new(),
            ..StepRecord::default()
        };
        assert!(history.push(&record));
    }
    history
}

fn saved_run(name: &str, history: RunHistory) -> SavedRun {
    SavedRun {
        name: name.to_owned(),
        config: Config::default(),
        history,
        checkpoint: None,
    }
}

/// Every kind of figure, drawn from `runs` (at least two).
fn every_figure(runs: &[SavedRun]) -> Vec<(String, Figure<'_>)> {
    let history = &runs[0].history;
    let mut figures: Vec<(String, Figure)> = LayerMetric::ALL
        .into_iter()
        .map(|metric| {
            let figure = Figure::Heatmap {
                history,
                metric,
                caption: "a caption · 3×64 sigmoid",
            };
            (format!("heatmap of {}", metric.name()), figure)
        })
        .collect();
    figures.push((
        "curves".into(),
        Figure::Curves {
            history,
            caption: "a caption",
        },
    ));
    figures.push((
        "comparison heatmaps".into(),
        Figure::ComparisonHeatmaps {
            runs,
            metric: LayerMetric::WeightGradNorm,
        },
    ));
    figures.push(("comparison loss".into(), Figure::ComparisonLoss { runs }));
    figures
}

fn sample_runs() -> Vec<SavedRun> {
    vec![
        saved_run("deep", history(12, 300, 1.0, None)),
        saved_run("diverged", history(4, 40, 1e3, Some(40))),
        saved_run("empty", RunHistory::new(3)),
    ]
}

/// Distinct colours in an RGB image: a blank or one-colour figure has very few.
fn distinct_colours(image: &image::RgbImage) -> usize {
    image.pixels().map(|p| p.0).collect::<BTreeSet<_>>().len()
}

// ---------------------------------------------------------------------------
// Figures

#[test]
fn png_figures_decode_at_the_requested_size_and_are_not_blank() {
    let runs = sample_runs();
    for (width, height, scale) in [(1400, 800, 1.0), (1000, 1400, 2.0), (480, 320, 1.0)] {
        let size = FigureSize::new(width, height, scale).expect("a valid size");
        for (name, figure) in every_figure(&runs) {
            let png = figure.render(FigureFormat::Png, size).expect(&name);
            let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
                .unwrap_or_else(|e| panic!("{name} at {width}x{height}: not a PNG: {e}"))
                .to_rgb8();
            assert_eq!(image.dimensions(), (width, height), "{name}");
            let colours = distinct_colours(&image);
            assert!(
                colours > 20,
                "{name} at {width}x{height} has {colours} colours"
            );
        }
    }
}

#[test]
fn svg_figures_are_xml_with_the_requested_size() {
    let runs = sample_runs();
    let size = FigureSize::new(2800, 1600, 2.0).expect("a valid size");
    for (name, figure) in every_figure(&runs) {
        let svg = figure.render(FigureFormat::Svg, size).expect(&name);
        let svg = String::from_utf8(svg).expect("SVG is UTF-8");
        let document = roxmltree::Document::parse(&svg)
            .unwrap_or_else(|e| panic!("{name}: not well-formed XML: {e}"));
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "svg", "{name}");
        assert_eq!(root.attribute("width"), Some("2800"), "{name}");
        assert_eq!(root.attribute("height"), Some("1600"), "{name}");
        let texts = root
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .count();
        let shapes = root.descendants().filter(|n| n.is_element()).count();
        assert!(
            texts >= 5 && shapes >= 50,
            "{name}: {texts} texts, {shapes} elements"
        );
    }
}

/// The text of every `<text>` element of an SVG figure.
fn svg_texts(figure: &Figure) -> Vec<String> {
    let size = FigureSize::new(1400, 800, 1.0).expect("a valid size");
    let svg = figure.render(FigureFormat::Svg, size).expect("renders");
    let svg = String::from_utf8(svg).expect("SVG is UTF-8");
    let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
    document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

#[test]
fn figure_text_is_ascii_and_names_what_it_shows() {
    let history = history(3, 20, 3.0, None); // 3e-3 ..= 0.3
    let texts = svg_texts(&Figure::Heatmap {
        history: &history,
        metric: LayerMetric::WeightGradNorm,
        caption: "digits · 3×64 sigmoid · seed 1",
    });
    assert!(texts.iter().all(|t| t.is_ascii()), "{texts:?}");
    for expected in [
        "Weight gradient norm |dL/dW| per layer and training step",
        "digits, 3x64 sigmoid, seed 1",
        "training step",
        "layer (1 = input side)",
        "log scale, decades",
        "NaN (none)",
        "exact 0 (none)",
        "1e-3",
        "1e0",
    ] {
        assert!(
            texts.iter().any(|t| t == expected),
            "no `{expected}` in {texts:?}"
        );
    }
    // A linear metric has linear ticks and no exact-zero colour.
    let texts = svg_texts(&Figure::Heatmap {
        history: &history,
        metric: LayerMetric::SaturatedFraction,
        caption: "",
    });
    assert!(texts.iter().any(|t| t == "linear scale"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "0.00") && texts.iter().any(|t| t == "1.00"));
    assert!(!texts.iter().any(|t| t.starts_with("exact 0")), "{texts:?}");
}

#[test]
fn curves_mark_where_a_run_diverged() {
    let diverged = history(4, 60, 1.0, Some(45));
    let texts = svg_texts(&Figure::Curves {
        history: &diverged,
        caption: "",
    });
    assert!(
        texts.iter().any(|t| t == "diverged at step 45"),
        "{texts:?}"
    );
    // The legend wraps its entries into lines.
    let all = texts.join(" ");
    assert!(
        all.contains("batch loss (1 non-finite value not drawn)"),
        "{all}"
    );
    assert!(all.contains("diverged at step 45: loss is NaN"), "{all}");

    let healthy = history(4, 60, 1.0, None);
    let texts = svg_texts(&Figure::Curves {
        history: &healthy,
        caption: "",
    });
    assert!(!texts.iter().any(|t| t.contains("diverged")), "{texts:?}");
    for expected in ["batch loss", "batch accuracy", "test accuracy", "accuracy"] {
        assert!(
            texts.iter().any(|t| t == expected),
            "no `{expected}` in {texts:?}"
        );
    }
}

#[test]
fn long_curves_are_thinned() {
    let long = history(2, 20_000, 1.0, None);
    let size = FigureSize::new(1400, 800, 1.0).expect("a valid size");
    let figure = Figure::Curves {
        history: &long,
        caption: "",
    };
    let svg =
        String::from_utf8(figure.render(FigureFormat::Svg, size).expect("renders")).expect("UTF-8");
    let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let most_points = document
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter_map(|n| n.attribute("points"))
        .map(|points| points.split_whitespace().count())
        .max()
        .expect("curves are polylines");
    // About two points per pixel column of a plot narrower than the figure.
    assert!(
        (500..=2 * 1400).contains(&most_points),
        "{most_points} points"
    );
}

#[test]
fn comparison_shares_the_union_of_the_runs_colour_ranges() {
    // Values off whole decades, so that the ranges do not hang on rounding.
    let small = history(3, 10, 3e-5, None); // 3e-8 ..= 3e-6
    let large = history(5, 10, 3e2, None); // 3e-3 ..= 30
    let metric = LayerMetric::WeightGradNorm;
    let (a, b) = (small.color_range(metric), large.color_range(metric));
    assert_eq!((a.low, a.high), (-8.0, -5.0));
    assert_eq!((b.low, b.high), (-3.0, 2.0));

    let shared = shared_color_range([&small, &large], metric);
    assert_eq!(shared, a.union(b));
    assert_eq!((shared.low, shared.high), (-8.0, 2.0));
    assert_eq!(shared_color_range([&large, &small], metric), shared);

    // A run without a finite value leaves the scale as it is; none at all gives the
    // scale's empty range.
    let empty = RunHistory::new(3);
    assert_eq!(shared_color_range([&small, &empty, &large], metric), shared);
    assert_eq!(shared_color_range([&empty], metric).low, -1.0);

    // Fixed linear scales stay fixed.
    let fraction = shared_color_range([&small, &large], LayerMetric::SaturatedFraction);
    assert_eq!((fraction.low, fraction.high), (0.0, 1.0));

    // The figure shows one colour bar, labelled as shared, spanning the union.
    let runs = vec![saved_run("small", small), saved_run("large", large)];
    let texts = svg_texts(&Figure::ComparisonHeatmaps {
        runs: &runs,
        metric,
    });
    assert!(texts.iter().any(|t| t == "shared scale"), "{texts:?}");
    assert_eq!(
        texts.iter().filter(|t| *t == "1e-8").count(),
        1,
        "{texts:?}"
    );
    assert_eq!(texts.iter().filter(|t| *t == "1e2").count(), 1, "{texts:?}");
    for name in ["small", "large"] {
        assert!(texts.iter().any(|t| t == name), "no panel titled {name}");
    }
}

/// A history of `steps` steps from `first_step` whose every value is `value`.
fn constant_history(first_step: u64, steps: u64, value: f64) -> RunHistory {
    let mut history = RunHistory::new(2);
    for step in first_step..first_step + steps {
        let layers = vec![value, -value];
        assert!(history.push(&StepRecord {
            step,
            loss: value,
            accuracy: value,
            grad_norm_total: value,
            weight_grad_norm: layers.clone(),
            activation_grad_norm: layers.clone(),
            update_ratio: layers.clone(),
            saturated_fraction: layers.clone(),
            dead_fraction: layers.clone(),
            activation_mean: layers.clone(),
            activation_std: layers,
            ..StepRecord::default()
        }));
    }
    history
}

#[test]
fn extreme_values_still_draw() {
    let size = FigureSize::new(800, 500, 1.0).expect("a valid size");
    let runs: Vec<SavedRun> = [
        (1, 1e308),
        (1, -1e308),
        (1, 5e-324),
        (1, f64::NAN),
        (1, f64::INFINITY),
        (1_000_000_000_000_000, 0.5),
    ]
    .into_iter()
    .map(|(first, value)| saved_run("extreme", constant_history(first, 30, value)))
    .collect();
    for run in &runs {
        let pair = [run.clone(), runs[0].clone()];
        for (name, figure) in every_figure(&pair) {
            for format in FigureFormat::ALL {
                let bytes = figure.render(format, size).expect(&name);
                assert!(bytes.len() > 1000, "{name} of {:?}", run.history.loss()[0]);
            }
        }
    }
}

#[test]
fn sizes_outside_the_limits_are_refused() {
    for (width, height, scale) in [
        (100, 800, 1.0),
        (1400, 100, 1.0),
        (900, 600, 2.0),
        (9000, 800, 1.0),
        (1400, 800, 0.0),
        (1400, 800, f64::NAN),
    ] {
        let result = FigureSize::new(width, height, scale);
        assert!(result.is_err(), "{width}x{height} at {scale} was accepted");
    }
}

#[test]
fn heatmap_png_writes_a_png_of_the_given_size() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("heatmap.png");
    let history = history(3, 20, 1.0, None);
    heatmap_png(
        &history,
        LayerMetric::WeightGradNorm,
        "caption",
        &path,
        gradlab::run::FIGURE_SIZE,
    )
    .expect("writes");
    let image = image::open(&path).expect("a PNG").to_rgb8();
    assert_eq!(image.dimensions(), gradlab::run::FIGURE_SIZE);
}

// ---------------------------------------------------------------------------
// gradlab export

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("the output folder exists")
        .map(|entry| {
            let entry = entry.expect("a folder entry");
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect()
}

fn run_files(run: usize, extensions: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::from([format!("run{run}-metrics.csv")]);
    for extension in extensions {
        // An MLP's runs record no recurrent metrics, and get no figures of them.
        for metric in LayerMetric::ALL
            .into_iter()
            .filter(|m| !m.is_recurrent_only())
        {
            names.insert(format!("run{run}-heatmap-{}.{extension}", metric.name()));
        }
        names.insert(format!("run{run}-curves.{extension}"));
    }
    names
}

#[test]
fn export_writes_figures_and_metrics_of_a_headless_run() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let run_dir = dir.path().join("run");
    let output = gradlab(&[
        "run",
        "--steps",
        "20",
        "--set",
        "model.depth=3",
        "--out",
        utf8(&run_dir),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let out = dir.path().join("figures");
    let session = run_dir.join("session.json");
    let output = gradlab(&[
        "export",
        utf8(&session),
        "--out",
        utf8(&out),
        "--width",
        "900",
        "--height",
        "600",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    assert_eq!(file_names(&out), run_files(1, &["png", "svg"]));
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 17, "one line a file:\n{stdout}");

    for metric in ["weight_grad_norm", "activation_grad_norm"] {
        let path = out.join(format!("run1-heatmap-{metric}.png"));
        let image = image::open(&path).expect("a PNG").to_rgb8();
        assert_eq!(image.dimensions(), (900, 600), "{}", path.display());
    }
    let svg = std::fs::read_to_string(out.join("run1-curves.svg")).expect("curves SVG");
    let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert_eq!(document.root_element().attribute("width"), Some("900"));

    // The same history as `gradlab run` wrote: 3 hidden layers and the output layer.
    let exported = std::fs::read_to_string(out.join("run1-metrics.csv")).expect("metrics");
    let original = std::fs::read_to_string(run_dir.join("metrics.csv")).expect("metrics");
    assert_eq!(exported, original);
    let loaded = Session::load(&session).expect("the session loads");
    assert_eq!(loaded.runs[0].history.num_layers(), 4);
    assert_eq!(exported, metrics_csv(&loaded.runs[0].history));
}

#[test]
fn export_of_several_runs_adds_the_comparisons() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let session = dir.path().join("two.json");
    Session::new(vec![
        saved_run("first", history(3, 30, 1.0, None)),
        saved_run("second", history(6, 50, 1e2, Some(50))),
    ])
    .save(&session)
    .expect("saves");

    let out = dir.path().join("out");
    let output = gradlab(&[
        "export",
        utf8(&session),
        "--out",
        utf8(&out),
        "--format",
        "svg",
        "--width",
        "1600",
        "--height",
        "1000",
        "--scale",
        "1.5",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let mut expected = run_files(1, &["svg"]);
    expected.extend(run_files(2, &["svg"]));
    expected.insert("comparison-heatmaps.svg".into());
    expected.insert("comparison-loss.svg".into());
    assert_eq!(file_names(&out), expected);
    for name in ["comparison-heatmaps.svg", "comparison-loss.svg"] {
        let svg = std::fs::read_to_string(out.join(name)).expect("an SVG");
        let document = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let root = document.root_element();
        assert_eq!(root.attribute("width"), Some("1600"), "{name}");
        assert_eq!(root.attribute("height"), Some("1000"), "{name}");
    }
}

/// Runs `gradlab export` with `args` into a fresh output folder, expects it to fail with
/// one line of error, checks that nothing was written, and returns that line.
fn export_error(session: &Path, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("out");
    let mut full = vec!["export", utf8(session), "--out", utf8(&out)];
    full.extend_from_slice(args);

    let output = gradlab(&full);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "`{}` succeeded", full.join(" "));
    assert_ne!(output.status.code(), None, "killed by a signal: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error, got:\n{stderr}");
    assert!(lines[0].starts_with("gradlab: "), "{}", lines[0]);
    assert!(!out.exists(), "a failed export wrote {}", out.display());
    assert!(text(&output.stdout).is_empty());
    lines[0].to_owned()
}

#[test]
fn a_bad_session_fails_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let write = |name: &str, contents: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("writes");
        path
    };

    let missing = dir.path().join("missing.json");
    let message = export_error(&missing, &[]);
    assert!(message.contains("could not read") && message.contains("missing.json"));

    let message = export_error(&write("garbage.json", "not a session {"), &[]);
    assert!(message.contains("not a Gradient Lab session"), "{message}");

    let message = export_error(&write("newer.json", r#"{"schema_version": 99}"#), &[]);
    assert!(message.contains("newer"), "{message}");

    let empty = dir.path().join("empty.json");
    Session::new(Vec::new()).save(&empty).expect("saves");
    let message = export_error(&empty, &[]);
    assert!(message.contains("no runs"), "{message}");

    // A good session with a figure size that cannot be drawn.
    let good = dir.path().join("good.json");
    Session::new(vec![saved_run("one", history(2, 5, 1.0, None))])
        .save(&good)
        .expect("saves");
    let message = export_error(&good, &["--width", "100"]);
    assert!(message.contains("too small"), "{message}");
    let message = export_error(&good, &["--scale", "100"]);
    assert!(message.contains("scale"), "{message}");
}
