#![doc = include_str!("../README.md")]

pub mod api;
pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod metrics;
pub mod redrive;
pub mod sandbox;
pub mod startup;
pub mod telemetry;
