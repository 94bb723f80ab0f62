//! One meaning per payload: a JSON object that names a key twice is refused, on every door.
//!
//! JSON leaves duplicate names undefined (RFC 8259 §4); `serde_json` keeps the last value in a map and refuses
//! the second in a typed struct, so the same ambiguity would be accepted in an EventBridge `detail` and refused
//! in an HTTP body. One pass over the whole payload, before any shape is parsed, makes every door refuse it.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::domain::text::excerpt;

/// Checks that no object anywhere in `json` names a key twice. The error names the key.
pub(super) fn reject_duplicate_keys(json: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<Unambiguous>(json).map(|_| ())
}

/// Any JSON value, read only to check its objects' keys.
struct Unambiguous;

impl<'de> Deserialize<'de> for Unambiguous {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnambiguousVisitor)
    }
}

struct UnambiguousVisitor;

impl<'de> Visitor<'de> for UnambiguousVisitor {
    type Value = Unambiguous;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unambiguous, A::Error> {
        let mut seen = HashSet::new();
        // Keys are owned because escaped keys (`"a\u0062"`) cannot be borrowed; they are compared decoded.
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("the key {} appears twice in one object", excerpt(&key))));
            }
            map.next_value::<Unambiguous>()?;
        }
        Ok(Unambiguous)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unambiguous, A::Error> {
        while seq.next_element::<Unambiguous>()?.is_some() {}
        Ok(Unambiguous)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_unit<E>(self) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_twice_in_any_object_is_refused() {
        let table = [
            (r#"{"a": 1, "b": 2}"#, None),
            (r#"{"a": {"b": 1}, "c": {"b": 2}}"#, None),
            (r#"[{"a": 1}, {"a": 2}]"#, None),
            (r#"{"a": 1, "a": 2}"#, Some("\"a\"")),
            (r#"{"detail": {"targetArn": "x", "targetArn": "y"}}"#, Some("\"targetArn\"")),
            (r#"{"x": [{"k": 1, "k": 1}]}"#, Some("\"k\"")),
            (r#"{"ab": 1, "a\u0062": 2}"#, Some("\"ab\"")),
        ];
        for (json, duplicate) in table {
            match (reject_duplicate_keys(json), duplicate) {
                (Ok(()), None) => {}
                (Err(err), Some(key)) => assert!(err.to_string().contains(key), "{json}: {err}"),
                (got, want) => panic!("{json}: got {got:?}, wanted a duplicate {want:?}"),
            }
        }
    }
}
