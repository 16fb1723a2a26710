//! Handlers of the WeChat endpoints, grouped as in the reference.

pub(crate) mod cards;
pub(crate) mod members;
pub(crate) mod misc;
pub(crate) mod token;

use serde_json::{Map, Value};

use crate::request::Reply;

/// A JSON success answer from `(key, value)` pairs.
pub(crate) fn ok<const N: usize>(pairs: [(&str, Value); N]) -> Reply {
    Reply::Json(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<_, _>>(),
    )
}
