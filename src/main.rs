//! `gradlab`: opens the lab, or runs an experiment headless.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use gradlab::config::{Config, apply_override};
use gradlab::export::{ExportOptions, FigureFormat, FigureSize, export_session};
use gradlab::presets::{self, PRESETS};
use gradlab::run::{resume_headless, run_headless};
use gradlab::sweep::{Sweep, SweepEvent, run_sweep, summary_table};

/// Training allocates and frees tensors of the same few sizes at every step; mimalloc
/// keeps their pages mapped where the system allocator returns them to the kernel and
/// takes a page fault per page on the next step.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use gradlab::train::LayerMetric;

/// Gradient Lab: watch gradients vanish and explode, and test every remedy.
#[derive(Parser)]
#[command(
    name = "gradlab",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Open a saved session instead of the default experiment.
    #[arg(long, value_name = "FILE")]
    open: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Train an experiment without a window and write session.json, metrics.csv and
    /// heatmap.png.
    Run(RunArgs),
    /// Write figures (PNG, SVG) and metrics for every run of a saved session.
    Export(ExportArgs),
    /// Time a reference workload (w1, w2, w2nobn, rnn, lstm) through the trainer with
    /// every probe on; the last line reads `WORKLOAD steps_per_sec=X`.
    Bench(BenchArgs),
    /// List the built-in experiments.
    Presets,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// w1, w2, w2nobn, rnn or lstm (see the README's performance section).
    workload: String,
    /// Timed runs, 1 to 1000; the median is reported.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    runs: u32,
    /// Steps per timed run, 1 to 1000000 (default: 200 for w1, 68 for w2 and w2nobn, one
    /// turn of the thread timing; 20 for the others).
    #[arg(long, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    steps: Option<u32>,
    /// Untimed steps first, 0 to 1000000 (default: a quarter of a run). The first steps
    /// of a new trainer run slower on fresh memory; with none, they are timed.
    #[arg(long, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    warmup: Option<u32>,
    /// Compute threads, 1 to 64 (default: as the app does, 1 or 2 chosen by timing
    /// steps for the wide MLPs on a machine with two or more cores, 1 otherwise). A
    /// step's products split in two at most; more threads than cores slow it down.
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Continue the last run of a saved session for --steps more steps.
    #[arg(long, value_name = "SESSION.json", conflicts_with_all = ["preset", "config", "overrides"], requires = "steps")]
    resume: Option<PathBuf>,
    /// A built-in experiment (see `gradlab presets`).
    #[arg(long, conflicts_with = "config")]
    preset: Option<String>,
    /// An experiment configuration in JSON.
    #[arg(long, value_name = "FILE.json")]
    config: Option<PathBuf>,
    /// Override one setting, e.g. --set model.depth=30 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Number of training steps (overrides train.steps); with --resume, how many more.
    #[arg(long)]
    steps: Option<u64>,
    /// One run per value of one setting, e.g. --sweep model.depth=5,10,20: each into
    /// DIR/KEY=VALUE/, all together in DIR/session.json with comparison figures.
    #[arg(long, value_name = "KEY=V1,V2,...")]
    sweep: Option<String>,
    /// Folder for the results.
    #[arg(long, value_name = "DIR", default_value = "gradlab-run")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The saved session to export.
    #[arg(value_name = "SESSION.json")]
    session: PathBuf,
    /// Folder for the figures and metrics (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Figure width in pixels.
    #[arg(long, default_value_t = 1400)]
    width: u32,
    /// Figure height in pixels.
    #[arg(long, default_value_t = 800)]
    height: u32,
    /// Multiplier on fonts, lines and margins: 2, with twice the width and height,
    /// gives the same figure at high resolution.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Which files to write each figure as.
    #[arg(long, value_enum, default_value_t = FormatArg::Both)]
    format: FormatArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Png,
    Svg,
    Both,
}

fn main() -> ExitCode {
    set_compute_threads();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .filter_module("wgpu", log::LevelFilter::Warn)
        .filter_module("eframe", log::LevelFilter::Warn)
        .filter_module("egui_glow", log::LevelFilter::Warn)
        .init();

    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(args)) => run(args),
        Some(Command::Export(args)) => export(args),
        Some(Command::Bench(args)) => bench(&args),
        Some(Command::Presets) => {
            list_presets();
            Ok(())
        }
        None => gradlab::ui::run_app(cli.open),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gradlab: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// candle reads its thread count before every matrix product. One compute thread is
/// the fastest setting for this lab's sizes on small machines, and an unset variable
/// costs a read of /proc/cpuinfo per product. A value the user set is kept.
#[allow(unsafe_code)]
fn set_compute_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
}

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    use gradlab::bench::Threads;
    let workload: gradlab::bench::Workload = args.workload.parse().map_err(anyhow::Error::msg)?;
    let config = workload.config().map_err(anyhow::Error::msg)?;
    let steps = args
        .steps
        .map_or_else(|| workload.default_steps(), u64::from);
    let warmup = args.warmup.map_or((steps / 4).max(2), u64::from);
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    println!(
        "{}: {} (every probe on), {} of {}",
        workload.name(),
        config.summary(),
        plural(u64::from(args.runs), "run", "runs"),
        plural(steps, "step", "steps")
    );
    let threads = args.threads.map(usize::from);
    let result = gradlab::bench::measure(&config, warmup, args.runs as usize, steps, threads)?;
    let runs: Vec<String> = result.runs.iter().map(|r| format!("{r:.1}")).collect();
    let threads = match result.threads {
        Threads::Fixed(n) => plural(n as u64, "thread", "threads"),
        Threads::Tuned => "1 or 2 threads, chosen by timing".to_string(),
    };
    println!("runs on {threads}: {}", runs.join(", "));
    println!(
        "{} steps_per_sec={:.2}",
        workload.name(),
        result.steps_per_sec()
    );
    Ok(())
}

fn list_presets() {
    let width = PRESETS.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for preset in PRESETS {
        println!("{:width$}  {}", preset.name, preset.description);
    }
}

/// The experiment of `args` with every --set and --steps applied, not yet validated.
fn base_config(args: &RunArgs) -> anyhow::Result<Config> {
    let mut config = match (&args.preset, &args.config) {
        (Some(name), _) => presets::find(name)
            .map_err(anyhow::Error::msg)?
            .config()
            .with_context(|| format!("preset `{name}`"))?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?;
            Config::from_json(&text).with_context(|| format!("in {}", path.display()))?
        }
        (None, None) => presets::default_config(),
    };
    for assignment in &args.overrides {
        config = apply_override(&config, assignment).context("--set")?;
    }
    if let Some(steps) = args.steps {
        config.train.steps = steps;
    }
    Ok(config)
}

fn build_config(args: &RunArgs) -> anyhow::Result<Config> {
    let config = base_config(args)?;
    config.validate()?;
    Ok(config)
}

fn step_progress_bar() -> ProgressBar {
    let progress = ProgressBar::new(0);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {per_sec}  loss {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    if let Some(spec) = &args.sweep {
        if args.resume.is_some() {
            bail!(
                "--resume continues one saved run and cannot be combined with --sweep; \
                 run the sweep without --resume (each run's folder holds a session that --resume can continue)"
            );
        }
        return sweep(&args, spec);
    }
    let progress = step_progress_bar();
    let on_step = |record: &gradlab::train::StepRecord| {
        progress.inc(1);
        if record.step.is_multiple_of(50) {
            progress.set_message(format!("{:.4}", record.loss));
        }
    };
    let outcome = match (&args.resume, args.steps) {
        (Some(session), Some(steps)) => {
            println!("continuing {} for {steps} steps", session.display());
            progress.set_length(steps);
            resume_headless(session, steps, &args.out, on_step)?
        }
        _ => {
            let config = build_config(&args)?;
            println!("{}", config.summary());
            progress.set_length(config.train.steps);
            run_headless(&config, &args.out, on_step)?
        }
    };
    progress.finish_and_clear();

    print_summary(&outcome);
    Ok(())
}

fn sweep(args: &RunArgs, spec: &str) -> anyhow::Result<()> {
    // Every value is checked before the first run trains or anything is written.
    let sweep = Sweep::parse(spec)?;
    let runs = sweep.runs(&base_config(args)?)?;

    let mut progress = step_progress_bar();
    let outcome = run_sweep(sweep.key(), &runs, &args.out, |event| match event {
        SweepEvent::RunStarted { index, count, run } => {
            println!(
                "[{}/{count}] {}: {}",
                index + 1,
                run.name,
                run.config.summary()
            );
            progress = step_progress_bar();
            progress.set_length(run.config.train.steps);
        }
        SweepEvent::Step(record) => {
            progress.inc(1);
            if record.step.is_multiple_of(50) {
                progress.set_message(format!("{:.4}", record.loss));
            }
        }
        SweepEvent::RunFinished { .. } => progress.finish_and_clear(),
    })?;

    println!();
    print!("{}", summary_table(&outcome));
    for run in &runs {
        println!("wrote {}", args.out.join(&run.folder).display());
    }
    for file in &outcome.files {
        println!("wrote {}", file.display());
    }
    Ok(())
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let size = FigureSize::new(args.width, args.height, args.scale)?;
    let formats = match args.format {
        FormatArg::Png => vec![FigureFormat::Png],
        FormatArg::Svg => vec![FigureFormat::Svg],
        FormatArg::Both => FigureFormat::ALL.to_vec(),
    };
    let files = export_session(&args.session, &args.out, &ExportOptions { size, formats })?;
    for file in &files {
        println!("wrote {}", file.display());
    }
    Ok(())
}

fn print_summary(outcome: &gradlab::run::RunOutcome) {
    let history = &outcome.history;
    let last = history.len().saturating_sub(1);
    let stopped = if outcome.divergence.is_some() {
        " (stopped: diverged)"
    } else {
        ""
    };
    println!(
        "steps: {} of {}{stopped}",
        history.last_step(),
        outcome.planned_steps
    );
    if let Some(loss) = history.loss().last() {
        match history.baseline_loss() {
            Some(baseline) => println!(
                "final batch loss: {loss:.4} (knowing nothing: {baseline:.4}, ratio {:.3})",
                loss / baseline
            ),
            None => println!("final batch loss: {loss:.4}"),
        }
    }
    if let Some((step, accuracy)) = history.test_accuracy().last() {
        println!("test accuracy: {:.1}% (step {step})", accuracy * 100.0);
    }
    let norms = history.layer_values(LayerMetric::WeightGradNorm, last);
    if let (Some(first), Some(output)) = (norms.first(), norms.last()) {
        let (first_name, output_name) = if history.is_recurrent() {
            ("layer 1 input W_x", "read-out W")
        } else {
            ("layer 1", "output layer")
        };
        println!(
            "weight_grad_norm at the last step: {first_name} {first:.3e}, {output_name} {output:.3e} (ratio {:.3e})",
            first / output
        );
    }
    let across_time = history.layer_values(LayerMetric::HiddenGradNorm, last);
    if let (Some(first), Some(newest)) = (across_time.first(), across_time.last()) {
        println!(
            "hidden_grad_norm at the last step: time step 1 {first:.3e}, time step {} {newest:.3e} (ratio {:.3e})",
            across_time.len(),
            first / newest
        );
    }
    for finding in gradlab::diagnosis::diagnose(history, outcome.activation) {
        let advice = finding.advice();
        if advice.is_empty() {
            println!("diagnosis: {}", finding.message());
        } else {
            println!("diagnosis: {} ({advice})", finding.message());
        }
    }
    for file in &outcome.files {
        println!("wrote {}", file.display());
    }
}
