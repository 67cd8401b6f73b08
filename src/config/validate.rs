//! The one place where a configuration is checked, with errors that name the field,
//! the offending value and what is allowed.

use thiserror::Error;

use super::{Activation, Config, ModelKind, TaskKind};

/// Why a configuration or an override was refused.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("config is not valid JSON of the expected shape: {0}")]
    Parse(String),

    #[error("`{0}` is not an assignment: write key=value, e.g. model.depth=30")]
    Syntax(String),

    #[error("{key}: {reason}")]
    Field { key: String, reason: String },

    #[error("unknown key `{key}`; allowed keys: {allowed}")]
    UnknownKey { key: String, allowed: String },

    #[error("{key}={value}: {reason}")]
    BadValue {
        key: String,
        value: String,
        reason: String,
    },

    #[error("{key}={value} is out of range; allowed: {allowed}")]
    OutOfRange {
        key: &'static str,
        value: String,
        allowed: &'static str,
    },
}

impl Config {
    /// Checks every numeric setting against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.task;
        let m = &self.model;
        let tr = &self.train;

        check_int("task.seq_len", t.seq_len, 1, 1000, "1 to 1000")?;
        match t.kind {
            TaskKind::Adding => check_int("task.seq_len", t.seq_len, 10, 500, "10 to 500")?,
            TaskKind::Copy => check_int("task.seq_len", t.seq_len, 1, 500, "1 to 500")?,
            TaskKind::SeqDigits if t.seq_len != 8 && t.seq_len != 64 => {
                return Err(ConfigError::OutOfRange {
                    key: "task.seq_len",
                    value: t.seq_len.to_string(),
                    allowed: "64 (one pixel per step) or 8 (one row per step) for seq_digits",
                });
            }
            _ => {}
        }
        check_int("task.copy_length", t.copy_length, 1, 50, "1 to 50")?;
        check_float("task.noise", t.noise, 0.0, 10.0, "0 to 10")?;
        check_int("task.num_points", t.num_points, 20, 100_000, "20 to 100000")?;
        check_float(
            "task.test_fraction",
            t.test_fraction,
            0.05,
            0.9,
            "0.05 to 0.9",
        )?;

        check_int("model.depth", m.depth, 1, 100, "1 to 100")?;
        check_int("model.width", m.width, 1, 1024, "1 to 1024")?;
        check_float("model.leaky_slope", m.leaky_slope, 0.0, 1.0, "0 to 1")?;
        check_positive(
            "model.init_scale",
            m.init_scale,
            100.0,
            "above 0, at most 100",
        )?;
        check_positive(
            "model.init_gain",
            m.init_gain,
            100.0,
            "above 0, at most 100",
        )?;

        check_int(
            "model.residual_every",
            m.residual_every,
            0,
            100,
            "0 (none) to 100",
        )?;
        check_float("model.dropout", m.dropout, 0.0, 0.95, "0 to 0.95")?;
        check_positive(
            "model.recurrent_gain",
            m.recurrent_gain,
            100.0,
            "above 0, at most 100",
        )?;
        check_float("model.forget_bias", m.forget_bias, -10.0, 10.0, "-10 to 10")?;
        self.check_model_fits_task()?;

        check_positive("train.lr", tr.lr, 100.0, "above 0, at most 100")?;
        check_int("train.batch_size", tr.batch_size, 1, 4096, "1 to 4096")?;
        check_int("train.steps", tr.steps, 1, 10_000_000, "1 to 10000000")?;
        check_int(
            "train.eval_every",
            tr.eval_every,
            1,
            10_000_000,
            "1 to 10000000",
        )?;
        check_float("train.momentum", tr.momentum, 0.0, 0.999, "0 to 0.999")?;
        check_float("train.weight_decay", tr.weight_decay, 0.0, 1.0, "0 to 1")?;
        check_positive(
            "train.clip_threshold",
            tr.clip_threshold,
            1e6,
            "above 0, at most 1e6",
        )?;
        check_int(
            "train.warmup_steps",
            tr.warmup_steps,
            0,
            10_000_000,
            "0 to 10000000",
        )?;
        check_int(
            "train.decay_every",
            tr.decay_every,
            1,
            10_000_000,
            "1 to 10000000",
        )?;
        check_positive(
            "train.decay_factor",
            tr.decay_factor,
            1.0,
            "above 0, at most 1",
        )?;
        Ok(())
    }
}

impl Config {
    /// Recurrent nets read sequences and MLPs read flat examples; the MLP-only
    /// options are refused for recurrent nets rather than silently ignored.
    fn check_model_fits_task(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        let kind = self.task.kind;
        let mismatch = |reason: String| ConfigError::Field {
            key: "model.kind".into(),
            reason,
        };
        if m.kind.is_recurrent() != kind.is_sequence() {
            return Err(if m.kind.is_recurrent() {
                mismatch(format!(
                    "{} reads sequences, but task.kind={} is not one; use adding, copy or seq_digits",
                    m.kind.label(),
                    kind.label()
                ))
            } else {
                mismatch(format!(
                    "mlp takes digits, spirals, moons, circles or xor; task.kind={} is a sequence task for rnn, lstm or gru",
                    kind.label()
                ))
            });
        }
        if !m.kind.is_recurrent() {
            return Ok(());
        }
        check_int("model.depth", m.depth, 1, 4, "1 to 4 for recurrent nets")?;
        let refuse = |key: &str, what: &str| ConfigError::Field {
            key: key.to_owned(),
            reason: format!(
                "{what} applies to mlp only; for {} set it to its default",
                m.kind.label()
            ),
        };
        if m.batch_norm {
            return Err(refuse("model.batch_norm", "batch norm"));
        }
        if m.residual_every != 0 {
            return Err(refuse("model.residual_every", "a residual connection"));
        }
        if m.dropout != 0.0 {
            return Err(refuse("model.dropout", "dropout"));
        }
        if m.kind == ModelKind::Rnn && m.activation == Activation::Prelu {
            return Err(ConfigError::Field {
                key: "model.activation".into(),
                reason: "prelu is for mlp only; an rnn takes any other activation".into(),
            });
        }
        Ok(())
    }
}

fn check_int<T: PartialOrd + ToString>(
    key: &'static str,
    value: T,
    min: T,
    max: T,
    allowed: &'static str,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::OutOfRange {
            key,
            value: value.to_string(),
            allowed,
        });
    }
    Ok(())
}

fn check_float(
    key: &'static str,
    value: f64,
    min: f64,
    max: f64,
    allowed: &'static str,
) -> Result<(), ConfigError> {
    // Written so that NaN fails the check too.
    if !(value >= min && value <= max) {
        return Err(ConfigError::OutOfRange {
            key,
            value: value.to_string(),
            allowed,
        });
    }
    Ok(())
}

fn check_positive(
    key: &'static str,
    value: f64,
    max: f64,
    allowed: &'static str,
) -> Result<(), ConfigError> {
    if !(value > 0.0 && value <= max) {
        return Err(ConfigError::OutOfRange {
            key,
            value: value.to_string(),
            allowed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_names_key_value_and_range() {
        let mut config = Config::default();
        config.model.depth = 0;
        let message = config.validate().unwrap_err().to_string();
        assert_eq!(message, "model.depth=0 is out of range; allowed: 1 to 100");
    }

    /// Each setting with a range, just outside it.
    #[test]
    fn every_range_is_checked() {
        type Spoil = fn(&mut Config);
        let cases: [(&str, Spoil); 10] = [
            ("model.dropout", |c| c.model.dropout = 1.0),
            ("model.dropout", |c| c.model.dropout = -0.1),
            ("model.residual_every", |c| c.model.residual_every = 101),
            ("train.momentum", |c| c.train.momentum = 1.0),
            ("train.weight_decay", |c| c.train.weight_decay = -1.0),
            ("train.clip_threshold", |c| c.train.clip_threshold = 0.0),
            ("train.decay_every", |c| c.train.decay_every = 0),
            ("train.decay_factor", |c| c.train.decay_factor = 1.5),
            ("train.warmup_steps", |c| c.train.warmup_steps = 10_000_001),
            ("model.init_gain", |c| c.model.init_gain = f64::INFINITY),
        ];
        for (key, spoil) in cases {
            let mut config = Config::default();
            spoil(&mut config);
            match config.validate() {
                Err(ConfigError::OutOfRange { key: found, .. }) => assert_eq!(found, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn fitting_the_model_to_the_task_makes_any_pairing_valid() {
        for task in TaskKind::ALL {
            for kind in ModelKind::ALL {
                let mut config = Config::default();
                config.task.kind = task;
                config.model.kind = kind;
                config.model.batch_norm = true;
                config.model.activation = Activation::Prelu;
                config.fit_model_to_task();
                assert_eq!(config.validate(), Ok(()), "{task:?} with {kind:?}");
                assert_eq!(config.model.kind.is_recurrent(), task.is_sequence());
                if task.is_sequence() && kind.is_recurrent() {
                    assert_eq!(config.model.kind, kind, "a fitting kind is kept");
                }
            }
        }
    }

    #[test]
    fn recurrent_nets_refuse_the_mlp_only_options_by_name() {
        let mut config = Config::default();
        config.task.kind = TaskKind::Adding;
        config.model.kind = ModelKind::Lstm;
        config.model.depth = 1;
        assert_eq!(config.validate(), Ok(()));
        config.model.dropout = 0.2;
        let message = config.validate().unwrap_err().to_string();
        assert_eq!(
            message,
            "model.dropout: dropout applies to mlp only; for lstm set it to its default"
        );
        config.model.dropout = 0.0;
        config.task.seq_len = 501;
        let message = config.validate().unwrap_err().to_string();
        assert_eq!(
            message,
            "task.seq_len=501 is out of range; allowed: 10 to 500"
        );
    }

    #[test]
    fn nan_learning_rate_is_refused() {
        let mut config = Config::default();
        config.train.lr = f64::NAN;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::OutOfRange {
                key: "train.lr",
                ..
            })
        ));
    }
}
