//! A run's history in a session file, and the checks a history read from disk must
//! pass.
//!
//! The exact steps are written as they always were (so that a run that never outgrew
//! its budget reads and writes byte for byte as before); the summarised steps, if any,
//! go in a `summarised` object after them.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::folded::{BucketCell, FoldedSeries, Folding};
use super::{RunHistory, Scalar, Series};
use crate::train::LayerMetric;

/// Far more steps than any run takes, and far from overflowing a step count.
const MAX_STEP: u64 = 1 << 50;
/// Far more rows than any network has.
const MAX_ROWS: usize = 100_000;

/// Exact values written with NaN and infinities as words.
struct Values<'a>(&'a [f64]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::session::nonfinite::serialize(self.0, serializer)
    }
}

/// The history as written; field order is the file's.
#[derive(Serialize)]
struct HistoryOut<'a> {
    num_layers: usize,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    rows: &'a BTreeMap<LayerMetric, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_loss: Option<f64>,
    first_step: u64,
    loss: Values<'a>,
    accuracy: Values<'a>,
    lr: Values<'a>,
    grad_norm_total: Values<'a>,
    grad_norm_clipped: Values<'a>,
    test_accuracy: &'a [(u64, f64)],
    layers: BTreeMap<LayerMetric, Values<'a>>,
    prelu_slope: Values<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summarised: Option<SummarisedFile>,
}

/// The history as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryIn {
    num_layers: usize,
    #[serde(default)]
    rows: BTreeMap<LayerMetric, usize>,
    #[serde(default)]
    baseline_loss: Option<f64>,
    first_step: u64,
    loss: Series,
    accuracy: Series,
    lr: Series,
    grad_norm_total: Series,
    grad_norm_clipped: Series,
    test_accuracy: Vec<(u64, f64)>,
    layers: BTreeMap<LayerMetric, Series>,
    #[serde(default)]
    prelu_slope: Series,
    #[serde(default)]
    summarised: Option<SummarisedFile>,
}

/// The steps before the exact ones: `steps` of them, in buckets of `bucket_steps`
/// (the last bucket holds the remainder when `steps` is not a multiple).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummarisedFile {
    steps: usize,
    bucket_steps: usize,
    loss: CellsFile,
    accuracy: CellsFile,
    lr: CellsFile,
    grad_norm_total: CellsFile,
    grad_norm_clipped: CellsFile,
    layers: BTreeMap<LayerMetric, CellsFile>,
    #[serde(default)]
    prelu_slope: CellsFile,
    /// The first step's per-layer values, exact (format 3 on; absent in format 2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    first_step_layers: BTreeMap<LayerMetric, Series>,
}

/// Summaries bucket-major (bucket b's row r at `b·rows + r`), one list a field.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CellsFile {
    min: Series,
    max: Series,
    min_magnitude: Series,
    mean: Series,
    mean_log10: Series,
    nan: Vec<u32>,
    inf: Vec<u32>,
    zero: Vec<u32>,
}

impl CellsFile {
    fn of(series: &FoldedSeries) -> Self {
        let mut cells = Self::default();
        let full = series.buckets.iter().copied();
        let open = series.open.iter().map(BucketCell::compact);
        let open_log = series.open.iter().map(|s| s.mean_log10);
        let full_log = series.buckets.iter().map(|c| f64::from(c.mean_log10));
        for cell in full.chain(open) {
            cells.min.0.push(cell.min);
            cells.max.0.push(cell.max);
            cells.min_magnitude.0.push(cell.min_magnitude);
            cells.mean.0.push(cell.mean);
            cells.nan.push(cell.nan_count);
            cells.inf.push(cell.inf_count);
            cells.zero.push(cell.zero_count);
        }
        // The open bucket's mean of log10 is still in full precision.
        cells.mean_log10.0 = full_log.chain(open_log).collect();
        cells
    }

    /// Full buckets and the open one of `rows` rows; `None` if the lists disagree.
    fn into_series(self, rows: usize, folding: &Folding, exact: Vec<f64>) -> Option<FoldedSeries> {
        let count = self.min.0.len();
        let lengths = [
            self.max.0.len(),
            self.min_magnitude.0.len(),
            self.mean.0.len(),
            self.mean_log10.0.len(),
            self.nan.len(),
            self.inf.len(),
            self.zero.len(),
        ];
        if lengths.iter().any(|&n| n != count) {
            return None;
        }
        let mut series = FoldedSeries::exact(rows, exact);
        let full = folding.full_buckets.checked_mul(rows)?.min(count);
        for i in 0..count {
            let cell = BucketCell {
                min: self.min.0[i],
                max: self.max.0[i],
                min_magnitude: self.min_magnitude.0[i],
                mean: self.mean.0[i],
                mean_log10: self.mean_log10.0[i] as f32,
                nan_count: self.nan[i],
                inf_count: self.inf[i],
                zero_count: self.zero[i],
            };
            if i < full {
                series.buckets.push(cell);
            } else {
                let mut summary = cell.expand(folding.open_steps);
                summary.mean_log10 = self.mean_log10.0[i];
                series.open.push(summary);
            }
        }
        Some(series)
    }
}

impl Serialize for RunHistory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let scalar = |s: Scalar| Values(&self.scalars[s as usize].exact);
        let summarised = self.is_summarised().then(|| {
            let cells = |s: Scalar| CellsFile::of(&self.scalars[s as usize]);
            SummarisedFile {
                steps: self.exact_start(),
                bucket_steps: self.folding.bucket_steps,
                loss: cells(Scalar::Loss),
                accuracy: cells(Scalar::Accuracy),
                lr: cells(Scalar::Lr),
                grad_norm_total: cells(Scalar::GradNormTotal),
                grad_norm_clipped: cells(Scalar::GradNormClipped),
                layers: self
                    .layers
                    .iter()
                    .map(|(&m, s)| (m, CellsFile::of(s)))
                    .collect(),
                prelu_slope: CellsFile::of(&self.prelu_slope),
                first_step_layers: self
                    .first_values
                    .iter()
                    .map(|(&m, values)| (m, Series(values.clone())))
                    .collect(),
            }
        });
        HistoryOut {
            num_layers: self.num_layers,
            rows: &self.rows,
            baseline_loss: self.baseline_loss,
            first_step: self.first_step,
            loss: scalar(Scalar::Loss),
            accuracy: scalar(Scalar::Accuracy),
            lr: scalar(Scalar::Lr),
            grad_norm_total: scalar(Scalar::GradNormTotal),
            grad_norm_clipped: scalar(Scalar::GradNormClipped),
            test_accuracy: &self.test_accuracy,
            layers: self
                .layers
                .iter()
                .map(|(&m, s)| (m, Values(&s.exact)))
                .collect(),
            prelu_slope: Values(&self.prelu_slope.exact),
            summarised,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RunHistory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let file = HistoryIn::deserialize(deserializer)?;
        RunHistory::from_file(file).map_err(serde::de::Error::custom)
    }
}

impl RunHistory {
    fn from_file(file: HistoryIn) -> Result<Self, String> {
        let mut history = Self {
            num_layers: file.num_layers,
            rows: file.rows,
            baseline_loss: file.baseline_loss,
            first_step: file.first_step,
            test_accuracy: file.test_accuracy,
            ..Self::default()
        };
        history.reset_layout();
        let exact_steps = file.loss.0.len();
        let exact = [
            file.loss,
            file.accuracy,
            file.lr,
            file.grad_norm_total,
            file.grad_norm_clipped,
        ];
        let Some(summarised) = file.summarised else {
            for (series, values) in history.scalars.iter_mut().zip(exact) {
                series.exact = values.0;
            }
            for (metric, values) in file.layers {
                let rows = history.rows(metric);
                history
                    .layers
                    .insert(metric, FoldedSeries::exact(rows, values.0));
            }
            history.prelu_slope.exact = file.prelu_slope.0;
            history.len = exact_steps;
            history.rebuild_extremes();
            return Ok(history);
        };

        let width = summarised.bucket_steps;
        if width == 0 || !width.is_power_of_two() {
            return Err(format!(
                "history's summary buckets hold {width} steps; a power of two is needed"
            ));
        }
        history.folding = Folding {
            bucket_steps: width,
            full_buckets: summarised.steps / width,
            open_steps: summarised.steps % width,
        };
        let folding = history.folding;
        let disagree = |name: &str| format!("history's summaries of {name} disagree in length");
        let cells = [
            summarised.loss,
            summarised.accuracy,
            summarised.lr,
            summarised.grad_norm_total,
            summarised.grad_norm_clipped,
        ];
        for (scalar, (cells, values)) in Scalar::ALL.into_iter().zip(cells.into_iter().zip(exact)) {
            history.scalars[scalar as usize] = cells
                .into_series(1, &folding, values.0)
                .ok_or_else(|| disagree(scalar.name()))?;
        }
        let mut layer_cells = summarised.layers;
        for (metric, values) in file.layers {
            let rows = history.rows(metric);
            let series = layer_cells
                .remove(&metric)
                .unwrap_or_default()
                .into_series(rows, &folding, values.0)
                .ok_or_else(|| disagree(metric.name()))?;
            history.layers.insert(metric, series);
        }
        if let Some(metric) = layer_cells.keys().next() {
            return Err(format!(
                "history has summaries of {} but no exact values of it",
                metric.name()
            ));
        }
        let hidden = history.prelu_slope.rows;
        history.prelu_slope = summarised
            .prelu_slope
            .into_series(hidden, &folding, file.prelu_slope.0)
            .ok_or_else(|| disagree("prelu_slope"))?;
        for (metric, values) in summarised.first_step_layers {
            let rows = history.rows(metric);
            if values.0.len() != rows {
                return Err(format!(
                    "history's first step of {} has {} values; the metric has {rows} rows",
                    metric.name(),
                    values.0.len()
                ));
            }
            history.first_values.insert(metric, values.0);
        }
        history.len = summarised
            .steps
            .checked_add(exact_steps)
            .ok_or("history has too many steps")?;
        history.rebuild_extremes();
        Ok(history)
    }

    /// Checks that the recorded lengths agree with each other, as those of a file read
    /// from disk may not.
    pub fn check(&self) -> Result<(), String> {
        if self.first_step == 0 || self.first_step > MAX_STEP {
            return Err(format!(
                "history starts at step {}; allowed 1 to {MAX_STEP}",
                self.first_step
            ));
        }
        if self.len as u64 > MAX_STEP {
            return Err(format!(
                "history has {} steps; allowed at most {MAX_STEP}",
                self.len
            ));
        }
        if self.len > 0 && self.num_layers == 0 {
            return Err("history has steps but no layers".into());
        }
        for (metric, &count) in &self.rows {
            if count > MAX_ROWS {
                return Err(format!(
                    "history gives {} {count} rows; allowed at most {MAX_ROWS}",
                    metric.name()
                ));
            }
        }
        let steps = self.len - self.exact_start();
        for scalar in Scalar::ALL.into_iter().skip(1) {
            let found = self.scalar(scalar).len();
            if found != steps {
                return Err(format!(
                    "history has {found} {} values for {steps} losses",
                    scalar.name()
                ));
            }
        }
        for metric in LayerMetric::ALL {
            let found = self.exact_series(metric).len();
            let rows = self.rows(metric);
            if Some(found) != steps.checked_mul(rows) {
                return Err(format!(
                    "history has {found} {} values; {steps} steps of {rows} rows need {}",
                    metric.name(),
                    steps.saturating_mul(rows)
                ));
            }
        }
        let hidden = self.num_layers.saturating_sub(1);
        let slopes = self.prelu_slope.exact.len();
        let has_slopes = slopes != 0 || !self.prelu_slope.buckets.is_empty();
        if has_slopes && Some(slopes) != steps.checked_mul(hidden) {
            return Err(format!(
                "history has {slopes} prelu_slope values; {steps} steps of {hidden} hidden layers need {}",
                steps.saturating_mul(hidden)
            ));
        }
        self.check_summaries(has_slopes)?;
        let last = self.last_step();
        for &(step, value) in &self.test_accuracy {
            if step < self.first_step || step > last || !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "test accuracy {value} at step {step} is out of range"
                ));
            }
        }
        Ok(())
    }

    /// Each series has one summary a row a bucket, counting no more values than the
    /// bucket holds, with extremes in order.
    fn check_summaries(&self, has_slopes: bool) -> Result<(), String> {
        let folding = self.folding;
        let scalars = Scalar::ALL
            .into_iter()
            .map(|s| (s.name(), &self.scalars[s as usize], true));
        let layers = self.layers.iter().map(|(m, s)| (m.name(), s, true));
        let slopes = std::iter::once(("prelu_slope", &self.prelu_slope, has_slopes));
        for (name, series, present) in scalars.chain(layers).chain(slopes) {
            let rows = if present { series.rows } else { 0 };
            let full = folding.full_buckets.saturating_mul(rows);
            let open = if folding.open_steps > 0 { rows } else { 0 };
            if series.buckets.len() != full || series.open.len() != open {
                return Err(format!(
                    "history has {} summaries of {name}; {} buckets of {rows} rows need {}",
                    series.buckets.len() + series.open.len(),
                    folding.num_buckets(),
                    full + open
                ));
            }
            let full_cells = series
                .buckets
                .iter()
                .map(|c| c.expand(folding.bucket_steps));
            for cell in full_cells.chain(series.open.iter().copied()) {
                let counted = cell.nan_count + cell.inf_count + cell.zero_count;
                let in_order = cell.min <= cell.max || (cell.min.is_nan() && cell.max.is_nan());
                if counted > cell.count || !in_order {
                    return Err(format!(
                        "history has a summary of {name} that cannot be: {} NaN, {} infinite and {} zero values of {} steps, from {} to {}",
                        cell.nan_count,
                        cell.inf_count,
                        cell.zero_count,
                        cell.count,
                        cell.min,
                        cell.max
                    ));
                }
            }
        }
        Ok(())
    }
}
