//! Lenient decoding of WeChat JSON (reference §1): SDKs and samples disagree on whether numbers are
//! ints, floats or strings and whether booleans are `true` or `"true"`, so accept all of them.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Reads an integer from an int, a float (rounded to the nearest integer) or a numeric string.
pub(crate) fn value_to_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok()))
            .or_else(|| n.as_f64().and_then(float_to_i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(float_to_i64))
        }
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn float_to_i64(f: f64) -> Option<i64> {
    // Within ±2^53 every f64 is exactly representable as i64, so the cast below cannot saturate.
    (f.is_finite() && f.abs() <= 9_007_199_254_740_992.0).then(|| f.round() as i64)
}

fn value_to_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn value_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn invalid<E: serde::de::Error>(what: &str, value: &Value) -> E {
    E::custom(format!("expected {what}, found {value}"))
}

/// `Option<i64>` from int, float, numeric string or null.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => value_to_i64(&v)
            .map(Some)
            .ok_or_else(|| invalid("an integer", &v)),
    }
}

/// `i64` (default 0) from int, float, numeric string or null.
pub(crate) fn i64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    opt_i64(d).map(Option::unwrap_or_default)
}

/// `Option<bool>` from `true`, `"true"`, `1`, `"1"` (and their false forms) or null.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => value_to_bool(&v)
            .map(Some)
            .ok_or_else(|| invalid("a boolean", &v)),
    }
}

/// `bool` (default false) leniently.
pub(crate) fn bool_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    opt_bool(d).map(Option::unwrap_or_default)
}

/// `Option<String>` from a string, a number (its decimal text), a boolean or null.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => value_to_string(&v)
            .map(Some)
            .ok_or_else(|| invalid("a string", &v)),
    }
}

/// `String` (default empty) leniently.
pub(crate) fn string_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string(d).map(Option::unwrap_or_default)
}

/// A list that may be absent or null (reference §13 #1: WxJava crashed on exactly that).
pub(crate) fn vec_or_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_i64")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "vec_or_empty")]
        l: Vec<u8>,
    }

    fn probe(json: &str) -> Probe {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn numbers_arrive_as_ints_floats_or_strings() {
        assert_eq!(probe(r#"{"n":7}"#).n, Some(7));
        assert_eq!(probe(r#"{"n":7.0}"#).n, Some(7));
        assert_eq!(probe(r#"{"n":"7"}"#).n, Some(7));
        assert_eq!(probe(r#"{"n":" -7 "}"#).n, Some(-7));
        assert_eq!(probe(r#"{"n":"200.00"}"#).n, Some(200));
        assert_eq!(probe(r#"{"n":null}"#).n, None);
        assert_eq!(probe(r#"{}"#).n, None);
        assert!(serde_json::from_str::<Probe>(r#"{"n":"seven"}"#).is_err());
        assert!(serde_json::from_str::<Probe>(r#"{"n":[1]}"#).is_err());
    }

    #[test]
    fn booleans_arrive_as_bools_strings_or_digits() {
        assert_eq!(probe(r#"{"b":true}"#).b, Some(true));
        assert_eq!(probe(r#"{"b":"true"}"#).b, Some(true));
        assert_eq!(probe(r#"{"b":"TRUE"}"#).b, Some(true));
        assert_eq!(probe(r#"{"b":"false"}"#).b, Some(false));
        assert_eq!(probe(r#"{"b":1}"#).b, Some(true));
        assert_eq!(probe(r#"{"b":"0"}"#).b, Some(false));
        assert!(serde_json::from_str::<Probe>(r#"{"b":"maybe"}"#).is_err());
    }

    #[test]
    fn strings_and_lists_are_lenient() {
        assert_eq!(probe(r#"{"s":12}"#).s.as_deref(), Some("12"));
        assert_eq!(probe(r#"{"s":"x"}"#).s.as_deref(), Some("x"));
        assert_eq!(probe(r#"{"l":null}"#).l, Vec::<u8>::new());
        assert_eq!(probe(r#"{"l":[1,2]}"#).l, vec![1, 2]);
    }
}
