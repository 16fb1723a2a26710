//! Shared pieces of Kaika's benchmarks: the common command-line flags, a closed-loop load driver
//! that records latencies, and the table the binaries print.
//!
//! Each benchmark is a binary in `src/bin/` (run them with `cargo run --release -p kaika-bench
//! --bin NAME -- …`); they are benchmarks, not tests, and are never run by `cargo test`.

pub mod journey;
pub mod load;
pub mod simulator;
pub mod stats;

pub use load::{run, LoadArgs};
pub use stats::{print_table, Summary};
pub use stats::{Outcome, Steps};
