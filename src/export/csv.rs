//! `metrics.csv` in long format: `step,metric,index,value`, one row per value.
//! `index` is the 1-based layer (layer 1 nearest the input) and empty for scalars.
//! NaN and infinities are written as `NaN`, `inf` and `-inf`. Every row is a value as
//! measured: a run longer than its history's budget writes its exact steps only (the
//! older ones are kept as summaries, in the session file).

use std::io::Write;

use crate::history::RunHistory;
use crate::train::LayerMetric;

/// The header line every metrics file starts with.
pub const CSV_HEADER: &str = "step,metric,index,value";

/// The exact steps of a run's history (all of them for a run within its budget) as
/// CSV text.
pub fn metrics_csv(history: &RunHistory) -> String {
    let mut bytes = Vec::new();
    // Writing to memory cannot fail, and every byte written is ASCII.
    let _ = write_metrics_csv(history, &mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Writes [`metrics_csv`] to `out` row by row, without holding it in memory.
pub fn write_metrics_csv(history: &RunHistory, out: &mut dyn Write) -> std::io::Result<()> {
    let exact = history.exact_start()..history.len();
    writeln!(out, "{CSV_HEADER}")?;

    let mut tests = history.test_accuracy().iter().peekable();
    for (index, column) in exact.enumerate() {
        let step = history.step_of(column);
        writeln!(out, "{step},loss,,{}", Value(history.loss()[index]))?;
        let scalars = [
            ("accuracy", history.accuracy()),
            ("grad_norm_total", history.grad_norm_total()),
            ("grad_norm_clipped", history.grad_norm_clipped()),
            ("lr", history.lr()),
        ];
        for (name, values) in scalars {
            writeln!(out, "{step},{name},,{}", Value(values[index]))?;
        }
        while let Some(&&(test_step, value)) = tests.peek() {
            if test_step > step {
                break;
            }
            writeln!(out, "{test_step},test_accuracy,,{}", Value(value))?;
            tests.next();
        }
        for metric in LayerMetric::ALL {
            for (layer, value) in history.layer_values(metric, column).iter().enumerate() {
                writeln!(
                    out,
                    "{step},{},{},{}",
                    metric.name(),
                    layer + 1,
                    Value(*value)
                )?;
            }
        }
        for (layer, slope) in history.prelu_slopes(column).iter().enumerate() {
            writeln!(out, "{step},prelu_slope,{},{}", layer + 1, Value(*slope))?;
        }
    }
    Ok(())
}

/// A value written exactly (shortest round-trip form), in exponent notation when it
/// is very small or very large so that 1e-300 does not become 300 zeros.
struct Value(f64);

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let magnitude = self.0.abs();
        if magnitude != 0.0 && !(1e-4..1e15).contains(&magnitude) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::StepRecord;

    #[test]
    fn long_format_rows_for_every_value() {
        let mut history = RunHistory::new(2);
        for step in 1..=2 {
            history.push(&StepRecord {
                step,
                loss: if step == 2 { f64::NAN } else { 0.5 },
                accuracy: 0.25,
                test_accuracy: (step == 2).then_some(0.75),
                lr: 0.1,
                grad_norm_total: 2.0,
                grad_norm_clipped: 1.0,
                weight_grad_norm: vec![1e-20, f64::INFINITY],
                activation_grad_norm: vec![0.0, 3.0],
                update_ratio: vec![1e-3, 2e-3],
                saturated_fraction: vec![0.5, 0.0],
                dead_fraction: vec![0.25, 0.0],
                activation_mean: vec![-0.5, 0.1],
                activation_std: vec![1.0, 2.0],
                prelu_slope: vec![0.25],
                ..StepRecord::default()
            });
        }
        let text = metrics_csv(&history);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step,metric,index,value");
        assert_eq!(
            &lines[1..=21],
            [
                "1,loss,,0.5",
                "1,accuracy,,0.25",
                "1,grad_norm_total,,2",
                "1,grad_norm_clipped,,1",
                "1,lr,,0.1",
                "1,weight_grad_norm,1,1e-20",
                "1,weight_grad_norm,2,inf",
                "1,activation_grad_norm,1,0",
                "1,activation_grad_norm,2,3",
                "1,update_ratio,1,0.001",
                "1,update_ratio,2,0.002",
                "1,saturated_fraction,1,0.5",
                "1,saturated_fraction,2,0",
                "1,dead_fraction,1,0.25",
                "1,dead_fraction,2,0",
                "1,activation_mean,1,-0.5",
                "1,activation_mean,2,0.1",
                "1,activation_std,1,1",
                "1,activation_std,2,2",
                "1,prelu_slope,1,0.25",
                "2,loss,,NaN",
            ]
        );
        assert!(lines.contains(&"2,test_accuracy,,0.75"));
        // Header, then 20 rows a step, and one test row.
        assert_eq!(lines.len(), 1 + 2 * 20 + 1);
    }

    #[test]
    fn a_summarised_run_writes_its_exact_steps_only() {
        let budget = crate::history::HistoryBudget::new(16, 4);
        let mut history = RunHistory::new(1).with_budget(budget);
        for step in 1..=100u64 {
            history.push(&StepRecord {
                loss: step as f64,
                ..StepRecord::every_mlp_metric(step, &[step as f64])
            });
        }
        let first_exact = history.step_of(history.exact_start());
        assert!(first_exact > 1);
        let text = metrics_csv(&history);
        let steps: Vec<u64> = text
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next()?.parse().ok())
            .collect();
        // 5 scalars and 7 metrics of one layer a step, for the exact steps alone.
        assert_eq!(steps.len() as u64, 12 * (101 - first_exact));
        assert_eq!(steps.first(), Some(&first_exact));
        assert_eq!(steps.last(), Some(&100));
        assert!(text.contains(&format!("{first_exact},loss,,{first_exact}\n")));
    }
}
