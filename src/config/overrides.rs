//! `--set dotted.key=value` overrides, applied through the config's JSON form so that
//! the dotted keys and the JSON nesting can never disagree.

use serde_json::Value;

use super::{Config, ConfigError};

/// Returns `config` with one `key=value` assignment applied. The result is not yet
/// validated: ranges are checked once all overrides are in.
pub fn apply_override(config: &Config, assignment: &str) -> Result<Config, ConfigError> {
    let Some((key, raw)) = assignment.split_once('=') else {
        return Err(ConfigError::Syntax(assignment.to_owned()));
    };
    let key = key.trim();
    let raw = raw.trim();

    let mut tree = serde_json::to_value(config).map_err(|e| ConfigError::Parse(e.to_string()))?;
    let unknown = || ConfigError::UnknownKey {
        key: key.to_owned(),
        allowed: settable_keys(config).join(", "),
    };

    let mut node = &mut tree;
    for segment in key.split('.') {
        node = node
            .as_object_mut()
            .and_then(|map| map.get_mut(segment))
            .ok_or_else(unknown)?;
    }
    if node.is_object() {
        return Err(unknown());
    }
    *node = parse_like(node, raw);

    serde_json::from_value(tree).map_err(|err| ConfigError::BadValue {
        key: key.to_owned(),
        value: raw.to_owned(),
        reason: plain_type_names(&err.to_string()),
    })
}

/// Every dotted key that `--set` accepts for this config, sorted (sections, then keys
/// within each).
pub fn settable_keys(config: &Config) -> Vec<String> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (name, child) in map {
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    walk(&path, child, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut keys = Vec::new();
    if let Ok(tree) = serde_json::to_value(config) {
        walk("", &tree, &mut keys);
    }
    keys
}

/// serde names Rust types ("expected usize"); a user wants words.
pub(super) fn plain_type_names(message: &str) -> String {
    let mut text = message.to_owned();
    for (rust, plain) in [
        ("expected usize", "expected a whole number (0 or more)"),
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected u32", "expected a whole number (0 or more)"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ] {
        text = text.replace(rust, plain);
    }
    text
}

/// Reads `raw` as JSON when the current value is a number or a boolean, otherwise as a
/// plain string; a value of the wrong kind is left for serde to name.
fn parse_like(current: &Value, raw: &str) -> Value {
    if current.is_string() {
        return Value::String(raw.to_owned());
    }
    // Numbers as people type them: `1e3`, `05` and `20.0` are numbers (and the first
    // and last whole ones) though JSON would read them otherwise or not at all.
    if current.is_number()
        && let Ok(number) = raw.parse::<f64>()
    {
        let whole = number.fract() == 0.0 && number.abs() < 9.0e15;
        if (current.is_u64() || current.is_i64()) && whole {
            return Value::from(number as i64);
        }
        if let Some(number) = serde_json::Number::from_f64(number) {
            return Value::Number(number);
        }
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Activation, Init};

    #[test]
    fn numbers_are_read_as_people_type_them() -> Result<(), ConfigError> {
        let config = Config::default();
        assert_eq!(apply_override(&config, "model.depth=1e1")?.model.depth, 10);
        assert_eq!(apply_override(&config, "model.depth=05")?.model.depth, 5);
        assert_eq!(apply_override(&config, "model.depth=30.0")?.model.depth, 30);
        assert!((apply_override(&config, "train.lr=05")?.train.lr - 5.0).abs() < 1e-12);
        for (assignment, expected) in [
            ("model.depth=2.5", "2.5"),
            ("model.depth=-3", "-3"),
            ("model.depth=many", "many"),
        ] {
            let Err(err) = apply_override(&config, assignment) else {
                panic!("{assignment} was taken");
            };
            let message = err.to_string();
            assert!(
                message.contains("whole number") && message.contains(expected),
                "{message}"
            );
        }
        Ok(())
    }

    #[test]
    fn sets_nested_values_of_each_kind() -> Result<(), ConfigError> {
        let config = Config::default();
        let config = apply_override(&config, "model.activation=tanh")?;
        let config = apply_override(&config, "model.depth=30")?;
        let config = apply_override(&config, "model.init=he_normal")?;
        let config = apply_override(&config, "train.lr=0.5")?;
        let config = apply_override(&config, "seed=7")?;
        assert_eq!(config.model.activation, Activation::Tanh);
        assert_eq!(config.model.depth, 30);
        assert_eq!(config.model.init, Init::HeNormal);
        assert!((config.train.lr - 0.5).abs() < 1e-12);
        assert_eq!(config.seed, 7);
        Ok(())
    }

    #[test]
    fn unknown_key_lists_the_allowed_ones() {
        let err = apply_override(&Config::default(), "model.dept=3").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("unknown key `model.dept`"), "{message}");
        assert!(message.contains("model.depth"), "{message}");
    }

    #[test]
    fn a_section_is_not_a_key() {
        let err = apply_override(&Config::default(), "model=3").unwrap_err();
        assert!(matches!(err, ConfigError::UnknownKey { .. }));
    }

    #[test]
    fn wrong_type_names_key_and_value() {
        let err = apply_override(&Config::default(), "model.depth=many").unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("model.depth=many: invalid type"),
            "{message}"
        );
        assert!(message.contains("expected a whole number"), "{message}");
    }

    #[test]
    fn unknown_variant_lists_the_choices() {
        let err = apply_override(&Config::default(), "model.activation=swoosh").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("swoosh"), "{message}");
        assert!(message.contains("leaky_relu"), "{message}");
    }

    #[test]
    fn missing_equals_sign_is_a_syntax_error() {
        let err = apply_override(&Config::default(), "model.depth").unwrap_err();
        assert_eq!(err, ConfigError::Syntax("model.depth".into()));
    }
}
