//! What the rows of each metric are: layers, weight matrices, time steps or gates,
//! with the names that axes, tooltips and tables give them.

use std::collections::BTreeMap;

use super::record::LayerMetric;
use crate::config::{Config, ModelKind};

/// The sigmoid gates of a cell, in the order their values are recorded.
pub fn gate_names(kind: ModelKind) -> &'static [&'static str] {
    match kind {
        ModelKind::Lstm => &["input", "forget", "output"],
        ModelKind::Gru => &["reset", "update"],
        ModelKind::Mlp | ModelKind::Rnn => &[],
    }
}

/// What a metric's rows stand for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// Layers, the output (read-out) layer last.
    Layer,
    /// A recurrent net's weight matrices: input and recurrent of each layer, then the
    /// read-out.
    WeightMatrix,
    /// Time steps of the sequence, the first input first.
    TimeStep,
    /// Each sigmoid gate of each recurrent layer.
    Gate,
    /// Each recurrent layer.
    RecurrentLayer,
}

impl RowKind {
    pub fn of(config: &Config, metric: LayerMetric) -> Self {
        Self::for_metric(config.model.kind.is_recurrent(), metric)
    }

    /// The rows of `metric` in a recurrent net's or an MLP's records.
    pub fn for_metric(recurrent: bool, metric: LayerMetric) -> Self {
        if !recurrent {
            return Self::Layer;
        }
        match metric {
            LayerMetric::WeightGradNorm | LayerMetric::UpdateRatio => Self::WeightMatrix,
            LayerMetric::HiddenGradNorm => Self::TimeStep,
            LayerMetric::GateMean | LayerMetric::GateSaturation => Self::Gate,
            LayerMetric::RecurrentSigma => Self::RecurrentLayer,
            _ => Self::Layer,
        }
    }

    /// The axis title, which says which end row 1 is.
    pub fn axis_title(self) -> &'static str {
        match self {
            Self::Layer => "layer (1 = input side)",
            Self::WeightMatrix => "weight matrix (1 = input side)",
            Self::TimeStep => "time step (1 = first input)",
            Self::Gate => "gate",
            Self::RecurrentLayer => "recurrent layer",
        }
    }

    /// A shorter title for small figures.
    pub fn short_title(self) -> &'static str {
        match self {
            Self::Layer => "layer",
            Self::WeightMatrix => "weight matrix",
            Self::TimeStep => "time step",
            Self::Gate => "gate",
            Self::RecurrentLayer => "layer",
        }
    }
}

/// The number of rows of every metric a run of `config` records (0 for those it
/// does not record).
pub fn row_counts(config: &Config) -> BTreeMap<LayerMetric, usize> {
    let m = &config.model;
    LayerMetric::ALL
        .into_iter()
        .map(|metric| {
            let count = if !m.kind.is_recurrent() {
                if metric.is_recurrent_only() {
                    0
                } else {
                    m.depth + 1
                }
            } else {
                match RowKind::of(config, metric) {
                    RowKind::Layer => m.depth + 1,
                    RowKind::WeightMatrix => 2 * m.depth + 1,
                    RowKind::TimeStep => config.task.time_steps(),
                    RowKind::Gate => m.depth * gate_names(m.kind).len(),
                    RowKind::RecurrentLayer => m.depth,
                }
            };
            (metric, count)
        })
        .collect()
}

/// The metrics a run of `config` records, in menu order.
pub fn recorded_metrics(config: &Config) -> Vec<LayerMetric> {
    let rows = row_counts(config);
    LayerMetric::ALL
        .into_iter()
        .filter(|m| rows.get(m).is_some_and(|&n| n > 0))
        .collect()
}

/// The name of row `row` (0-based) of `metric`, for tooltips and tables.
pub fn row_name(config: &Config, metric: LayerMetric, row: usize) -> String {
    let depth = config.model.depth;
    match RowKind::of(config, metric) {
        RowKind::Layer if row >= depth => {
            if config.model.kind.is_recurrent() {
                "read-out".to_owned()
            } else {
                format!("layer {} (output)", row + 1)
            }
        }
        RowKind::Layer => format!("layer {}", row + 1),
        RowKind::WeightMatrix if row >= 2 * depth => "read-out W".to_owned(),
        RowKind::WeightMatrix => format!(
            "layer {} {}",
            row / 2 + 1,
            if row.is_multiple_of(2) {
                "input W_x"
            } else {
                "recurrent W_h"
            }
        ),
        RowKind::TimeStep => format!("t = {}", row + 1),
        RowKind::Gate => {
            let gates = gate_names(config.model.kind);
            let per_layer = gates.len().max(1);
            let gate = gates.get(row % per_layer).copied().unwrap_or("gate");
            format!("layer {} {gate} gate", row / per_layer + 1)
        }
        RowKind::RecurrentLayer => format!("layer {} W_h", row + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TaskKind;

    #[test]
    fn an_lstm_has_rows_for_matrices_time_steps_and_gates() {
        let mut config = Config::default();
        config.task.kind = TaskKind::Copy;
        config.task.seq_len = 20;
        config.task.copy_length = 3;
        config.model.kind = ModelKind::Lstm;
        config.model.depth = 2;
        let rows = row_counts(&config);
        assert_eq!(rows[&LayerMetric::WeightGradNorm], 5);
        assert_eq!(rows[&LayerMetric::ActivationGradNorm], 3);
        assert_eq!(rows[&LayerMetric::HiddenGradNorm], 26);
        assert_eq!(rows[&LayerMetric::GateMean], 6);
        assert_eq!(rows[&LayerMetric::RecurrentSigma], 2);
        assert_eq!(
            row_name(&config, LayerMetric::WeightGradNorm, 3),
            "layer 2 recurrent W_h"
        );
        assert_eq!(
            row_name(&config, LayerMetric::WeightGradNorm, 4),
            "read-out W"
        );
        assert_eq!(
            row_name(&config, LayerMetric::GateMean, 4),
            "layer 2 forget gate"
        );
        assert_eq!(row_name(&config, LayerMetric::HiddenGradNorm, 0), "t = 1");
    }

    #[test]
    fn an_mlp_has_one_row_per_layer_and_no_recurrent_metrics() {
        let config = Config::default();
        let rows = row_counts(&config);
        assert_eq!(rows[&LayerMetric::UpdateRatio], config.model.depth + 1);
        assert_eq!(rows[&LayerMetric::HiddenGradNorm], 0);
        assert_eq!(
            row_name(&config, LayerMetric::WeightGradNorm, 20),
            "layer 21 (output)"
        );
    }
}
