//! `metrics.csv` in long format: `step,metric,index,value`, one row per value.
//! `index` is the 1-based layer (layer 1 nearest the input) and empty for scalars.
//! NaN and infinities are written as `NaN`, `inf` and `-inf`.

use std::fmt::Write;

use crate::history::RunHistory;
use crate::train::LayerMetric;

/// The header line every metrics file starts with.
pub const CSV_HEADER: &str = "step,metric,index,value";

/// The whole history of a run as CSV text.
pub fn metrics_csv(history: &RunHistory) -> String {
    let mut out = String::with_capacity(64 + history.len() * (2 + 2 * history.num_layers()) * 32);
    out.push_str(CSV_HEADER);
    out.push('\n');

    let mut tests = history.test_accuracy().iter().peekable();
    for column in 0..history.len() {
        let step = history.step_of(column);
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{step},loss,,{}", Value(history.loss()[column]));
        let _ = writeln!(
            out,
            "{step},accuracy,,{}",
            Value(history.accuracy()[column])
        );
        while let Some(&&(test_step, value)) = tests.peek() {
            if test_step > step {
                break;
            }
            let _ = writeln!(out, "{test_step},test_accuracy,,{}", Value(value));
            tests.next();
        }
        for metric in LayerMetric::ALL {
            for (layer, value) in history.layer_values(metric, column).iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{step},{},{},{}",
                    metric.name(),
                    layer + 1,
                    Value(*value)
                );
            }
        }
    }
    out
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
                weight_grad_norm: vec![1e-20, f64::INFINITY],
                activation_grad_norm: vec![0.0, 3.0],
            });
        }
        let text = metrics_csv(&history);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step,metric,index,value");
        assert_eq!(lines[1], "1,loss,,0.5");
        assert_eq!(lines[2], "1,accuracy,,0.25");
        assert_eq!(lines[3], "1,weight_grad_norm,1,1e-20");
        assert_eq!(lines[4], "1,weight_grad_norm,2,inf");
        assert_eq!(lines[5], "1,activation_grad_norm,1,0");
        assert_eq!(lines[7], "2,loss,,NaN");
        assert_eq!(lines[9], "2,test_accuracy,,0.75");
        // Header, then per step: loss, accuracy, 2 + 2 layer values; one test row.
        assert_eq!(lines.len(), 1 + 2 * 6 + 1);
    }
}
