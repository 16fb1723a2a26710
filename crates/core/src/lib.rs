#![doc = include_str!("../README.md")]

pub mod accounts;
pub mod activation;
pub mod activation_form;
pub mod admin_users;
pub mod api_keys;
pub mod audit;
mod bounded;
pub mod card_face;
pub mod cards;
pub mod channels;
pub mod clients;
pub mod db;
pub mod demo;
pub mod entity;
pub mod error;
pub mod events;
pub mod golive;
pub mod ledger;
pub mod member_search;
pub mod members;
pub mod migration;
pub mod outbox;
pub mod passwords;
pub mod problems;
pub mod reconcile;
pub mod reports;
pub mod secrets;
pub mod sessions;
pub mod stats;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod token_store;
pub mod whitelist;

pub use error::CoreError;
