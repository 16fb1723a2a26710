//! Latency recording, percentiles and the printed table.

use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies of the named steps of one operation, in order.
pub type Steps = Vec<(&'static str, Duration)>;

/// What one operation reports: its steps' latencies, or why it failed.
pub type Outcome = Result<Steps, String>;

/// What the workers recorded.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    /// Latencies of successful operations.
    ops: Vec<Duration>,
    /// Step name → latencies, in first-seen order of names.
    steps: BTreeMap<(usize, &'static str), Vec<Duration>>,
    /// Failure messages.
    pub(crate) errors: Vec<String>,
}

impl Recorder {
    pub(crate) fn record(&mut self, total: Duration, outcome: Outcome) {
        match outcome {
            Ok(steps) => {
                self.ops.push(total);
                for (i, (name, d)) in steps.into_iter().enumerate() {
                    self.steps.entry((i, name)).or_default().push(d);
                }
            }
            Err(e) => self.errors.push(e),
        }
    }

    pub(crate) fn merge(&mut self, other: Recorder) {
        self.ops.extend(other.ops);
        for (k, v) in other.steps {
            self.steps.entry(k).or_default().extend(v);
        }
        self.errors.extend(other.errors);
    }

    pub(crate) fn summarise(self, name: &str, elapsed: Duration) -> (Summary, Vec<Summary>) {
        let mut first_error = self.errors.first().cloned();
        if let Some(e) = &mut first_error {
            e.truncate(200);
        }
        let total = Summary::of(name, self.ops, self.errors.len(), first_error, elapsed);
        let steps = self
            .steps
            .into_iter()
            .map(|((_, step), v)| Summary::of(&format!("  {step}"), v, 0, None, elapsed))
            .collect();
        (total, steps)
    }
}

/// One row of the results.
#[derive(Debug, Clone)]
pub struct Summary {
    /// What was measured.
    pub name: String,
    /// Successful operations.
    pub ok: usize,
    /// Failed operations.
    pub errors: usize,
    /// The first failure, shortened.
    pub first_error: Option<String>,
    /// Successful operations per second.
    pub per_second: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th-percentile latency.
    pub p99: Duration,
    /// Slowest operation.
    pub max: Duration,
}

impl Summary {
    fn of(
        name: &str,
        mut latencies: Vec<Duration>,
        errors: usize,
        first_error: Option<String>,
        elapsed: Duration,
    ) -> Self {
        latencies.sort_unstable();
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        #[expect(
            clippy::cast_precision_loss,
            reason = "operation counts stay far below 2^52"
        )]
        let per_second = latencies.len() as f64 / secs;
        Self {
            name: name.to_owned(),
            ok: latencies.len(),
            errors,
            first_error,
            per_second,
            p50: percentile(&latencies, 50.0),
            p99: percentile(&latencies, 99.0),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }
}

/// Nearest-rank percentile of sorted latencies (zero when empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank between 1 and len"
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Prints the rows as a fixed-width table, then the first error of any row that had errors.
pub fn print_table(rows: &[Summary]) {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9}",
        "scenario", "ok", "errors", "per sec", "p50 ms", "p99 ms", "max ms"
    );
    for r in rows {
        println!(
            "{:<width$} {:>9} {:>7} {:>10.0} {:>9} {:>9} {:>9}",
            r.name,
            r.ok,
            r.errors,
            r.per_second,
            ms(r.p50),
            ms(r.p99),
            ms(r.max)
        );
    }
    for r in rows {
        if let Some(e) = &r.first_error {
            println!("{}: first error: {e}", r.name.trim());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
        assert_eq!(
            percentile(&[Duration::from_millis(7)], 99.0),
            Duration::from_millis(7)
        );
    }
}
