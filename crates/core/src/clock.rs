//! The one clock: every timestamp Kaika writes and every lease it compares is read from [`now`].
//!
//! Several instances share one database, and their own clocks drift apart: an instance running a
//! minute ahead would take leases another instance still holds, and stamp rows out of order. So
//! [`now`] tells the **database's** time: [`sync`] measures how far this process's clock is from the
//! database's (one query, halfway through its round trip) and [`now`] adds that offset to the process's
//! clock, at no cost per call. [`crate::db::connect`] syncs once; a long-running process re-syncs
//! every [`RESYNC_EVERY`] ([`keep_in_sync`]). An SQLite database is a file on this machine, so its
//! offset is zero.
//!
//! The offset is one per process, because a process talks to one database (tests talk to several, all
//! on this machine's clock).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

/// How often [`keep_in_sync`] measures the offset again.
pub const RESYNC_EVERY: Duration = Duration::from_secs(300);

/// The database's clock minus this process's, in microseconds.
static OFFSET_MICROS: AtomicI64 = AtomicI64::new(0);

/// An error added to this process's clock, so a test can play an instance whose clock is wrong.
#[cfg(feature = "test-support")]
static LOCAL_ERROR_MICROS: AtomicI64 = AtomicI64::new(0);

/// The database's current time.
pub fn now() -> DateTime<Utc> {
    local() + TimeDelta::microseconds(OFFSET_MICROS.load(Ordering::Relaxed))
}

/// The database's clock minus this process's, as last measured.
pub fn offset() -> TimeDelta {
    TimeDelta::microseconds(OFFSET_MICROS.load(Ordering::Relaxed))
}

/// Measures the offset of the database's clock from this process's and keeps it for [`now`].
pub async fn sync(db: &DatabaseConnection) -> Result<TimeDelta, DbErr> {
    let offset = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let before = local();
            let row = db
                .query_one(Statement::from_string(
                    DatabaseBackend::Postgres,
                    "SELECT clock_timestamp() AS now",
                ))
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("clock_timestamp()".to_owned()))?;
            let after = local();
            let database: DateTime<Utc> = row.try_get("", "now")?;
            offset_between(before, database, after)
        }
        DatabaseBackend::Sqlite | DatabaseBackend::MySql => TimeDelta::zero(),
    };
    let micros = offset.num_microseconds().unwrap_or(0);
    let previous = OFFSET_MICROS.swap(micros, Ordering::Relaxed);
    if (micros - previous).abs() > 1_000_000 {
        tracing::info!(
            offset_ms = offset.num_milliseconds(),
            "this process's clock differs from the database's; timestamps and leases follow the database"
        );
    }
    Ok(offset)
}

/// Re-syncs every [`RESYNC_EVERY`] until the task is dropped; a failed sync keeps the last offset.
pub async fn keep_in_sync(db: DatabaseConnection) {
    let mut ticks = tokio::time::interval(RESYNC_EVERY);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Err(err) = sync(&db).await {
            tracing::warn!(error = %err, "could not read the database's clock; keeping the last offset");
        }
    }
}

/// The offset of `database` (read between `before` and `after` on this clock), assuming it was read
/// halfway through the round trip.
fn offset_between(
    before: DateTime<Utc>,
    database: DateTime<Utc>,
    after: DateTime<Utc>,
) -> TimeDelta {
    let halfway = before + (after - before) / 2;
    database - halfway
}

#[cfg(not(feature = "test-support"))]
#[expect(
    clippy::disallowed_methods,
    reason = "the one reading of this process's clock"
)]
fn local() -> DateTime<Utc> {
    Utc::now()
}

#[cfg(feature = "test-support")]
#[expect(
    clippy::disallowed_methods,
    reason = "the one reading of this process's clock"
)]
fn local() -> DateTime<Utc> {
    Utc::now() + TimeDelta::microseconds(LOCAL_ERROR_MICROS.load(Ordering::Relaxed))
}

/// Makes this process's clock wrong by `error` (until the next call), as an instance's clock can be.
/// Process-wide: only for a test binary that runs one such test at a time.
#[cfg(feature = "test-support")]
pub fn set_local_error_for_tests(error: TimeDelta) {
    LOCAL_ERROR_MICROS.store(error.num_microseconds().unwrap_or(0), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_taken_halfway_through_the_round_trip() {
        let before = DateTime::from_timestamp(1_000, 0).unwrap();
        let after = before + TimeDelta::milliseconds(20);
        let database = before + TimeDelta::seconds(90);
        assert_eq!(
            offset_between(before, database, after),
            TimeDelta::seconds(90) - TimeDelta::milliseconds(10)
        );
        assert_eq!(
            offset_between(before, before - TimeDelta::seconds(5), after),
            -TimeDelta::seconds(5) - TimeDelta::milliseconds(10)
        );
    }
}
