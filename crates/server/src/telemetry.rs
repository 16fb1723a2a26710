//! Structured logs with `tracing`: readable lines by default, JSON lines on request.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` wins over the configured filter.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(quiet_migrator(level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: never in files, pipes or a container's log.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests) fails harmlessly: the first subscriber stays.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The configured filter with sea-orm's migrator lowered to WARN when the filter lets INFO through and
/// does not name the migrator: it says two lines per migration at INFO, where Kaika's own one line
/// (`migrated the database: applied N migration(s), FIRST to LAST`) says what an operator needs.
fn quiet_migrator(level: &str) -> String {
    let lets_info_through = level.split(',').map(str::trim).any(|directive| {
        ["info", "debug", "trace"]
            .iter()
            .any(|verbose| directive.eq_ignore_ascii_case(verbose))
    });
    if lets_info_through && !level.contains("sea_orm_migration") {
        format!("{level},sea_orm_migration=warn")
    } else {
        level.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrator_is_quiet_unless_named_or_everything_is_quieter() {
        assert_eq!(quiet_migrator("info"), "info,sea_orm_migration=warn");
        assert_eq!(
            quiet_migrator("debug,kaika_core=trace"),
            "debug,kaika_core=trace,sea_orm_migration=warn"
        );
        assert_eq!(
            quiet_migrator("info,sea_orm_migration=info"),
            "info,sea_orm_migration=info"
        );
        assert_eq!(quiet_migrator("warn"), "warn");
        assert_eq!(quiet_migrator("off"), "off");
    }
}
