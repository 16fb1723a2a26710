//! A daily bar chart drawn as SVG on the server (no script, no inline style: CSP-safe).

use chrono::NaiveDate;

/// One bar group of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// The day.
    pub day: NaiveDate,
    /// Cards claimed that day.
    pub claimed: i64,
    /// Cards activated that day.
    pub activated: i64,
}

/// A drawn rectangle.
#[derive(Debug, Clone, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// `claimed` or `activated` (the CSS class).
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// A labelled tick on the x axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Centre.
    pub x: f64,
    /// Label (`MM-DD`).
    pub label: String,
}

/// The chart, ready for `templates/chart.html`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// View-box width.
    pub width: f64,
    /// View-box height.
    pub height: f64,
    /// The bars.
    pub rects: Vec<Rect>,
    /// Day labels (every 5th day).
    pub ticks: Vec<Tick>,
    /// The largest value (the top of the scale).
    pub max: i64,
    /// Baseline y.
    pub base: f64,
}

/// Lays out `days` consecutive days ending at `last`, filling days without data with zeros.
pub fn daily(last: NaiveDate, days: u32, data: &[Bar]) -> Chart {
    let width = 720.0;
    let height = 220.0;
    let top = 10.0;
    let base = height - 24.0;
    let first = last - chrono::Duration::days(i64::from(days.saturating_sub(1)));
    let bars: Vec<Bar> = (0..days)
        .map(|i| {
            let day = first + chrono::Duration::days(i64::from(i));
            data.iter().find(|b| b.day == day).cloned().unwrap_or(Bar {
                day,
                claimed: 0,
                activated: 0,
            })
        })
        .collect();
    let max = bars
        .iter()
        .map(|b| b.claimed.max(b.activated))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = width / f64::from(days.max(1));
    let bar_w = (slot * 0.4).max(1.0);
    let scale = |v: i64| (base - top) * (v as f64) / (max as f64);
    let mut rects = Vec::new();
    let mut ticks = Vec::new();
    for (i, bar) in bars.iter().enumerate() {
        let x = slot * i as f64 + slot * 0.1;
        let label = bar.day.format("%m-%d").to_string();
        for (offset, value, class) in [
            (0.0, bar.claimed, "claimed"),
            (bar_w, bar.activated, "activated"),
        ] {
            let h = scale(value);
            rects.push(Rect {
                x: x + offset,
                y: base - h,
                w: bar_w,
                h,
                class,
                title: format!("{label} {class}: {value}"),
            });
        }
        if i % 5 == 0 || i + 1 == bars.len() {
            ticks.push(Tick {
                x: x + bar_w,
                label,
            });
        }
    }
    Chart {
        width,
        height,
        rects,
        ticks,
        max,
        base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_gets_two_bars_and_the_tallest_reaches_the_top() {
        let last = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let chart = daily(
            last,
            30,
            &[Bar {
                day: last,
                claimed: 10,
                activated: 4,
            }],
        );
        assert_eq!(chart.rects.len(), 60);
        assert_eq!(chart.max, 10);
        let tallest = chart.rects.iter().map(|r| r.h).fold(0.0, f64::max);
        assert!((tallest - (chart.base - 10.0)).abs() < 1e-9);
        assert_eq!(chart.ticks.last().unwrap().label, "11-26");
    }
}
