//! Serde for `Vec<f64>` that keeps NaN and ±Inf: JSON has no such numbers, so they are
//! written as the strings `"NaN"`, `"inf"` and `"-inf"`. A training history must round
//! trip exactly, divergence included.

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserializer, Serializer};

pub fn serialize<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(values.len()))?;
    for &value in values {
        if value.is_nan() {
            seq.serialize_element("NaN")?;
        } else if value == f64::INFINITY {
            seq.serialize_element("inf")?;
        } else if value == f64::NEG_INFINITY {
            seq.serialize_element("-inf")?;
        } else {
            seq.serialize_element(&value)?;
        }
    }
    seq.end()
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    deserializer.deserialize_seq(ValuesVisitor)
}

struct ValuesVisitor;

impl<'de> Visitor<'de> for ValuesVisitor {
    type Value = Vec<f64>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of numbers or \"NaN\", \"inf\", \"-inf\"")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(value) = seq.next_element::<NumberOrWord>()? {
            values.push(value.0);
        }
        Ok(values)
    }
}

struct NumberOrWord(f64);

impl<'de> de::Deserialize<'de> for NumberOrWord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor;

        impl de::Visitor<'_> for ElementVisitor {
            type Value = NumberOrWord;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or \"NaN\", \"inf\", \"-inf\"")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumberOrWord, E> {
                Ok(NumberOrWord(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumberOrWord, E> {
                Ok(NumberOrWord(v as f64))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumberOrWord, E> {
                Ok(NumberOrWord(v as f64))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumberOrWord, E> {
                match v {
                    "NaN" => Ok(NumberOrWord(f64::NAN)),
                    "inf" => Ok(NumberOrWord(f64::INFINITY)),
                    "-inf" => Ok(NumberOrWord(f64::NEG_INFINITY)),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }

        deserializer.deserialize_any(ElementVisitor)
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Holder(#[serde(with = "super")] Vec<f64>);

    #[test]
    fn round_trips_every_kind_of_value() -> Result<(), serde_json::Error> {
        let values = vec![
            1.5,
            0.0,
            -2e-300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let json = serde_json::to_string(&Holder(values.clone()))?;
        assert_eq!(json, r#"[1.5,0.0,-2e-300,"NaN","inf","-inf"]"#);
        let back: Holder = serde_json::from_str(&json)?;
        assert_eq!(back.0.len(), values.len());
        for (a, b) in values.iter().zip(&back.0) {
            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
        Ok(())
    }

    #[test]
    fn other_words_are_refused() {
        assert!(serde_json::from_str::<Holder>(r#"["nan?"]"#).is_err());
    }
}
