#![doc = include_str!("../README.md")]

pub mod accounts;
pub mod db;
pub mod entity;
pub mod error;
pub mod migration;
pub mod secrets;
#[cfg(feature = "test-support")]
pub mod testing;

pub use error::CoreError;
