//! The built-in experiments, stored under `assets/presets/` in the config format.

use crate::config::{Config, ConfigError};

/// A named experiment with one line saying what it shows.
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
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
        description: "20 sigmoid layers, standard init, digits: the gradient vanishes toward the input",
        json: include_str!("../assets/presets/deep_sigmoid.json"),
    },
    Preset {
        name: "deep_sigmoid_f64",
        description: "the same in f64, to see how far the gradient really falls",
        json: include_str!("../assets/presets/deep_sigmoid_f64.json"),
    },
    Preset {
        name: "deep_relu_he",
        description: "20 ReLU layers with He init: the gradient reaches the input side",
        json: include_str!("../assets/presets/deep_relu_he.json"),
    },
    Preset {
        name: "shallow_relu",
        description: "2 ReLU layers on digits: learns to over 90% test accuracy in seconds",
        json: include_str!("../assets/presets/shallow_relu.json"),
    },
    Preset {
        name: "tanh_spirals",
        description: "8 tanh layers with Xavier init on two spirals",
        json: include_str!("../assets/presets/tanh_spirals.json"),
    },
    Preset {
        name: "huge_init",
        description: "20 ReLU layers drawn from N(0, 1): gradients explode and the run diverges",
        json: include_str!("../assets/presets/huge_init.json"),
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
