//! The background loops every server process runs: they share the work through leases in the rows, so
//! any number of processes may run them on one database.
//!
//! - [`events`]: applies stored WeChat pushes;
//! - [`outbox`]: sends ledger changes to WeChat (`membercard/updateuser`);
//! - [`redrive`]: finishes activations abandoned by a crash or waiting on WeChat;
//! - [`review_poll`]: asks `card/get` about cards still in review.

pub mod events;
pub mod outbox;
pub mod redrive;
pub mod review_poll;
