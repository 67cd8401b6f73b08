//! The settings two configs disagree on, by dotted key, so that a list of runs can say
//! how each differs from a reference run.

use serde_json::Value;

use super::Config;
use super::overrides::settable_keys;

/// One setting on which two configs disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The dotted key, as `--set` takes it: `model.depth`.
    pub key: String,
    /// The value in the reference config and in the other one, as `--set` writes them.
    pub reference: String,
    pub value: String,
}

impl Difference {
    /// A short form for lists: the last part of the key (the whole key where the last
    /// part alone says little), this value and the reference one, e.g. `depth 7 (not
    /// 20)` or `model.kind lstm (not mlp)`.
    pub fn short(&self) -> String {
        format!(
            "{} {} (not {})",
            short_key(&self.key),
            self.value,
            self.reference
        )
    }
}

/// A dotted key in a few letters: its last part (`depth` for `model.depth`), or the
/// whole key where the last part alone says little (`model.kind`).
pub fn short_key(key: &str) -> &str {
    match key.rsplit_once('.') {
        Some((_, last)) if last != "kind" => last,
        _ => key,
    }
}

/// The value of the setting `key` in `config` as `--set` writes it (`20`, `sigmoid`),
/// or `None` for a key the config does not have.
pub fn setting_value(config: &Config, key: &str) -> Option<String> {
    let tree = serde_json::to_value(config).ok()?;
    lookup(&tree, key).filter(|v| !v.is_object()).map(plain)
}

/// The settings of `other` that differ from `reference`, in the order of
/// [`settable_keys`].
pub fn differences(reference: &Config, other: &Config) -> Vec<Difference> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(reference), serde_json::to_value(other)) else {
        return Vec::new();
    };
    settable_keys(reference)
        .into_iter()
        .filter_map(|key| {
            let left = lookup(&a, &key)?;
            let right = lookup(&b, &key)?;
            (left != right).then(|| Difference {
                reference: plain(left),
                value: plain(right),
                key,
            })
        })
        .collect()
}

fn lookup<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.')
        .try_fold(tree, |node, segment| node.get(segment))
}

/// A value as it is typed after `--set key=`: strings without their quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::apply_override;

    #[test]
    fn equal_configs_have_no_differences() {
        assert!(differences(&Config::default(), &Config::default()).is_empty());
    }

    #[test]
    fn each_changed_setting_is_named_once_in_key_order() -> Result<(), crate::config::ConfigError> {
        let reference = Config::default();
        let mut other = apply_override(&reference, "train.lr=0.5")?;
        other = apply_override(&other, "model.depth=7")?;
        other = apply_override(&other, "model.activation=relu")?;
        other = apply_override(&other, "model.kind=lstm")?;

        let found = differences(&reference, &other);
        let keys: Vec<&str> = found.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            keys,
            ["model.activation", "model.depth", "model.kind", "train.lr"]
        );
        assert_eq!(found[0].reference, "sigmoid");
        assert_eq!(found[0].value, "relu");
        assert_eq!(found[1].reference, "20");
        assert_eq!(found[1].value, "7");
        assert_eq!(found[3].value, "0.5");

        let short: Vec<String> = found.iter().map(Difference::short).collect();
        assert_eq!(
            short,
            [
                "activation relu (not sigmoid)",
                "depth 7 (not 20)",
                "model.kind lstm (not mlp)",
                "lr 0.5 (not 0.1)"
            ]
        );

        assert_eq!(short_key("task.kind"), "task.kind");
        assert_eq!(short_key("seed"), "seed");

        // Seen from the other side, the same keys with the values swapped.
        let back = differences(&other, &reference);
        assert_eq!(back.len(), 4);
        assert_eq!(
            (back[1].reference.as_str(), back[1].value.as_str()),
            ("7", "20")
        );
        Ok(())
    }

    #[test]
    fn a_setting_reads_as_it_is_typed() -> Result<(), crate::config::ConfigError> {
        let config = apply_override(&Config::default(), "model.init_gain=2.5")?;
        assert_eq!(
            setting_value(&config, "model.init_gain").as_deref(),
            Some("2.5")
        );
        assert_eq!(
            setting_value(&config, "model.activation").as_deref(),
            Some("sigmoid")
        );
        assert_eq!(setting_value(&config, "model.depth").as_deref(), Some("20"));
        assert_eq!(setting_value(&config, "model"), None);
        assert_eq!(setting_value(&config, "model.dept"), None);
        Ok(())
    }
}
