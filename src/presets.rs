//! The built-in experiments, stored under `assets/presets/` in the config format.

use crate::config::{Config, ConfigError};
use crate::train::LayerMetric;

/// A named experiment with one line saying what it shows, and a guide: what to look
/// at, what to expect and why, with the paper it comes from.
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub guide: &'static str,
    /// The heatmap metric the guide starts from.
    pub metric: LayerMetric,
    json: &'static str,
}

impl Preset {
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::from_json(self.json)
    }
}

/// The name of the experiment the app opens on.
pub const DEFAULT_PRESET: &str = "deep_sigmoid";

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "deep_sigmoid",
        guide: include_str!("../assets/presets/deep_sigmoid.md"),
        metric: LayerMetric::WeightGradNorm,
        description: "20 sigmoid layers, standard init, digits: the gradient vanishes toward the input",
        json: include_str!("../assets/presets/deep_sigmoid.json"),
    },
    Preset {
        name: "deep_sigmoid_f64",
        guide: include_str!("../assets/presets/deep_sigmoid_f64.md"),
        metric: LayerMetric::WeightGradNorm,
        description: "the same in f64, to see how far the gradient really falls",
        json: include_str!("../assets/presets/deep_sigmoid_f64.json"),
    },
    Preset {
        name: "deep_relu_he",
        guide: include_str!("../assets/presets/deep_relu_he.md"),
        metric: LayerMetric::WeightGradNorm,
        description: "20 ReLU layers with He init: the gradient reaches the input side",
        json: include_str!("../assets/presets/deep_relu_he.json"),
    },
    Preset {
        name: "shallow_relu",
        guide: include_str!("../assets/presets/shallow_relu.md"),
        metric: LayerMetric::WeightGradNorm,
        description: "2 ReLU layers on digits: learns to over 90% test accuracy in seconds",
        json: include_str!("../assets/presets/shallow_relu.json"),
    },
    Preset {
        name: "tanh_spirals",
        guide: include_str!("../assets/presets/tanh_spirals.md"),
        metric: LayerMetric::WeightGradNorm,
        description: "8 tanh layers with Xavier init on two spirals",
        json: include_str!("../assets/presets/tanh_spirals.json"),
    },
    Preset {
        name: "huge_init",
        guide: include_str!("../assets/presets/huge_init.md"),
        metric: LayerMetric::WeightGradNorm,
        description: "20 ReLU layers drawn from N(0, 1): gradients explode and the run diverges",
        json: include_str!("../assets/presets/huge_init.json"),
    },
    Preset {
        name: "tiny_init",
        description: "20 tanh layers drawn from N(0, 0.02²): the weights alone make the gradient vanish",
        guide: include_str!("../assets/presets/tiny_init.md"),
        metric: LayerMetric::WeightGradNorm,
        json: include_str!("../assets/presets/tiny_init.json"),
    },
    Preset {
        name: "tanh_xavier",
        description: "20 tanh layers with Xavier init: an even gradient, and digits learned",
        guide: include_str!("../assets/presets/tanh_xavier.md"),
        metric: LayerMetric::WeightGradNorm,
        json: include_str!("../assets/presets/tanh_xavier.json"),
    },
    Preset {
        name: "depth_alone",
        description: "60 tanh layers with Xavier init: depth alone slows training",
        guide: include_str!("../assets/presets/depth_alone.md"),
        metric: LayerMetric::WeightGradNorm,
        json: include_str!("../assets/presets/depth_alone.json"),
    },
    Preset {
        name: "batch_norm",
        description: "deep_sigmoid with batch normalisation: the gradient reaches layer 1",
        guide: include_str!("../assets/presets/batch_norm.md"),
        metric: LayerMetric::WeightGradNorm,
        json: include_str!("../assets/presets/batch_norm.json"),
    },
    Preset {
        name: "residual",
        description: "deep_sigmoid with a skip every 2 layers: the gradient flows, learning still stalls",
        guide: include_str!("../assets/presets/residual.md"),
        metric: LayerMetric::WeightGradNorm,
        json: include_str!("../assets/presets/residual.json"),
    },
    Preset {
        name: "clipping_exploding",
        description: "huge init with global-norm clipping: the run stays finite",
        guide: include_str!("../assets/presets/clipping_exploding.md"),
        metric: LayerMetric::WeightGradNorm,
        json: include_str!("../assets/presets/clipping_exploding.json"),
    },
    Preset {
        name: "clipping_vanishing",
        description: "claim: clipping helps a vanishing gradient (it does not)",
        guide: include_str!("../assets/presets/clipping_vanishing.md"),
        metric: LayerMetric::WeightGradNorm,
        json: include_str!("../assets/presets/clipping_vanishing.json"),
    },
    Preset {
        name: "dropout_l2",
        description: "claim: dropout and L2 help a vanishing gradient (they do not)",
        guide: include_str!("../assets/presets/dropout_l2.md"),
        metric: LayerMetric::WeightGradNorm,
        json: include_str!("../assets/presets/dropout_l2.json"),
    },
    Preset {
        name: "adam_vanishing",
        description: "claim: Adam fixes a vanishing gradient (not when it is below Adam's epsilon)",
        guide: include_str!("../assets/presets/adam_vanishing.md"),
        metric: LayerMetric::UpdateRatio,
        json: include_str!("../assets/presets/adam_vanishing.json"),
    },
    Preset {
        name: "rnn_adding",
        description: "tanh RNN on the adding problem, T = 50: the gradient dies across time and the sum is never learned",
        guide: include_str!("../assets/presets/rnn_adding.md"),
        metric: LayerMetric::HiddenGradNorm,
        json: include_str!("../assets/presets/rnn_adding.json"),
    },
    Preset {
        name: "lstm_adding",
        description: "the same task for an LSTM: the gradient survives across time and the sum is learned",
        guide: include_str!("../assets/presets/lstm_adding.md"),
        metric: LayerMetric::HiddenGradNorm,
        json: include_str!("../assets/presets/lstm_adding.json"),
    },
    Preset {
        name: "gru_adding",
        description: "the same task for a GRU: gated like the LSTM, with two gates",
        guide: include_str!("../assets/presets/gru_adding.md"),
        metric: LayerMetric::HiddenGradNorm,
        json: include_str!("../assets/presets/gru_adding.json"),
    },
    Preset {
        name: "rnn_exploding",
        description: "ReLU RNN whose recurrent singular values are 1.5: the gradient explodes across time",
        guide: include_str!("../assets/presets/rnn_exploding.md"),
        metric: LayerMetric::HiddenGradNorm,
        json: include_str!("../assets/presets/rnn_exploding.json"),
    },
    Preset {
        name: "rnn_exploding_clipped",
        description: "the same with global-norm clipping: the run stays finite",
        guide: include_str!("../assets/presets/rnn_exploding_clipped.md"),
        metric: LayerMetric::HiddenGradNorm,
        json: include_str!("../assets/presets/rnn_exploding_clipped.json"),
    },
    Preset {
        name: "rnn_seq_digits",
        description: "tanh RNN reading digits one pixel per step (64 steps)",
        guide: include_str!("../assets/presets/rnn_seq_digits.md"),
        metric: LayerMetric::HiddenGradNorm,
        json: include_str!("../assets/presets/rnn_seq_digits.json"),
    },
    Preset {
        name: "lstm_seq_digits",
        description: "LSTM reading digits one pixel per step (64 steps)",
        guide: include_str!("../assets/presets/lstm_seq_digits.md"),
        metric: LayerMetric::HiddenGradNorm,
        json: include_str!("../assets/presets/lstm_seq_digits.json"),
    },
];

/// The preset called `name`, or an error listing the ones that exist.
pub fn find(name: &str) -> Result<&'static Preset, String> {
    PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        format!("unknown preset `{name}`; presets: {}", names.join(", "))
    })
}

/// The experiment the app opens on.
pub fn default_config() -> Config {
    find(DEFAULT_PRESET)
        .ok()
        .and_then(|p| p.config().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_validates() {
        for preset in PRESETS {
            assert!(
                preset.config().is_ok(),
                "{}: {:?}",
                preset.name,
                preset.config()
            );
        }
    }

    /// Every preset trains a few steps headless, with every probe finite or a recorded
    /// divergence, and has a guide that says what to look at and why.
    #[test]
    fn every_preset_runs_a_few_steps_and_has_a_guide() -> Result<(), crate::train::TrainError> {
        for preset in PRESETS {
            let mut config = preset.config()?;
            // Small and short: the point is that each one builds and steps.
            config.model.depth = config.model.depth.min(4);
            config.model.width = config.model.width.min(16);
            config.task.num_points = config.task.num_points.min(200);
            let rows = crate::train::rows::row_counts(&config);
            let mut trainer = crate::train::Trainer::new(&config)?;
            for _ in 0..3 {
                let record = trainer.step()?;
                for metric in LayerMetric::ALL {
                    assert_eq!(
                        record.layer_values(metric).len(),
                        rows[&metric],
                        "{} {}",
                        preset.name,
                        metric.name()
                    );
                }
            }
            assert!(rows[&preset.metric] > 0, "{}", preset.name);
            assert!(preset.guide.contains("**Look at**"), "{}", preset.name);
            assert!(preset.guide.contains("**Why:**"), "{}", preset.name);
        }
        Ok(())
    }

    #[test]
    fn default_preset_is_the_documented_experiment() {
        let config = default_config();
        assert_eq!(config.model.depth, 20);
        assert_eq!(config.model.width, 64);
        assert_eq!(config.model.activation, crate::config::Activation::Sigmoid);
        assert_eq!(config.model.init, crate::config::Init::Standard);
        assert_eq!(config.task.kind, crate::config::TaskKind::Digits);
    }
}
