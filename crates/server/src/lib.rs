#![doc = include_str!("../README.md")]

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod metrics;
pub mod startup;
pub mod telemetry;
