//! Colour scales shared by several runs, and kept up to date step by step.

use super::{ColorRange, RunHistory};
use crate::train::LayerMetric;

/// The colour scale that covers every finite value of `metric` in all of `histories`:
/// the union of each run's own range, so that one colour means one value in every
/// panel. Runs without a finite value leave it unchanged.
pub fn shared_color_range<'a>(
    histories: impl IntoIterator<Item = &'a RunHistory>,
    metric: LayerMetric,
) -> ColorRange {
    let scale = metric.scale();
    histories
        .into_iter()
        .filter_map(|h| h.value_range(metric))
        .reduce(ColorRange::union)
        .unwrap_or(ColorRange::empty(scale))
}

/// The colour range of one run's metric, kept up to date as steps arrive (the history
/// keeps each metric's extremes as it records them): a live comparison asks every frame.
#[derive(Clone, Debug, Default)]
pub struct RangeTracker {
    range: Option<ColorRange>,
}

impl RangeTracker {
    /// Brings the range up to date with `history` and returns it; `None` while the run
    /// has no finite value. A change of metric or a replaced run needs nothing more:
    /// the history keeps every metric's range.
    pub fn update(&mut self, history: &RunHistory, metric: LayerMetric) -> Option<ColorRange> {
        self.range = history.value_range(metric);
        self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::StepRecord;

    /// A run of `num_layers` layers whose weight gradient at step s and layer l is
    /// `scale · 10^-(l) · s`.
    fn history(num_layers: usize, steps: u64, scale: f64) -> RunHistory {
        let mut history = RunHistory::new(num_layers);
        for step in 1..=steps {
            let values: Vec<f64> = (0..num_layers)
                .map(|l| scale * 10f64.powi(-(l as i32)) * step as f64)
                .collect();
            history.push(&StepRecord {
                step,
                weight_grad_norm: values.clone(),
                activation_grad_norm: values.clone(),
                update_ratio: values.clone(),
                saturated_fraction: vec![0.0; num_layers],
                dead_fraction: vec![0.0; num_layers],
                activation_mean: vec![0.0; num_layers],
                activation_std: values,
                ..StepRecord::default()
            });
        }
        history
    }

    #[test]
    fn the_shared_range_is_the_union_of_the_runs_ranges() {
        let metric = LayerMetric::WeightGradNorm;
        // 3e-3 ..= 1.2 and 20 ..= 8000: decades -3 to 1 and 1 to 4.
        let shallow = history(3, 4, 0.3);
        let deep = history(3, 4, 2000.0);
        let shared = shared_color_range([&shallow, &deep], metric);
        assert_eq!((shared.low, shared.high), (-3.0, 4.0));
        assert_eq!(
            shared,
            shallow.color_range(metric).union(deep.color_range(metric))
        );
        let none: [&RunHistory; 0] = [];
        assert_eq!(
            shared_color_range(none, metric),
            ColorRange::empty(metric.scale())
        );
    }

    #[test]
    fn a_tracker_fed_step_by_step_agrees_with_a_full_scan() {
        let metric = LayerMetric::WeightGradNorm;
        let whole = history(4, 30, 5e-2);
        let mut growing = RunHistory::new(4);
        let mut tracker = RangeTracker::default();
        assert_eq!(tracker.update(&growing, metric), None);
        for column in 0..whole.len() {
            let values = whole.layer_values(metric, column).to_vec();
            growing.push(&StepRecord {
                step: whole.step_of(column),
                weight_grad_norm: values.clone(),
                activation_grad_norm: values.clone(),
                update_ratio: values.clone(),
                saturated_fraction: vec![0.0; 4],
                dead_fraction: vec![0.0; 4],
                activation_mean: vec![0.0; 4],
                activation_std: values,
                ..StepRecord::default()
            });
            assert_eq!(
                tracker.update(&growing, metric),
                Some(growing.color_range(metric)),
                "after step {}",
                column + 1
            );
        }
        // 5e-5 ..= 1.5: decades -5 to 1.
        let range = tracker.update(&growing, metric).expect("values seen");
        assert_eq!((range.low, range.high), (-5.0, 1.0));

        // Another metric, or a run replaced by a shorter one, starts afresh.
        let fraction = tracker.update(&growing, LayerMetric::SaturatedFraction);
        assert_eq!(fraction.map(|r| (r.low, r.high)), Some((0.0, 1.0)));
        let small = history(4, 2, 3e-9);
        let restarted = tracker.update(&small, LayerMetric::SaturatedFraction);
        assert_eq!(restarted, fraction);
        let restarted = tracker.update(&small, metric).expect("values seen");
        // 3e-12 ..= 6e-9.
        assert_eq!((restarted.low, restarted.high), (-12.0, -8.0));
    }
}
