//! A daily bar chart drawn as SVG on the server (no script, no inline style: CSP-safe).

use chrono::NaiveDate;

/// One day of the chart: the four steps of the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// The day.
    pub day: NaiveDate,
    /// Opens, claims, activations and deletions that day, in the order of [`SERIES`].
    pub values: [i64; 4],
}

/// The CSS class of each series, in the order of [`Bar::values`]: the funnel's steps.
pub const SERIES: [&str; 4] = ["opened", "claimed", "activated", "deleted"];

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
    /// The series, one of [`SERIES`] (the CSS class).
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

/// Lays out `days` consecutive days ending at `last`, filling days without data with zeros; `names`
/// are the series' names in the admin's language, for the tooltips.
pub fn daily(last: NaiveDate, days: u32, data: &[Bar], names: [&str; 4]) -> Chart {
    let width = 720.0;
    let height = 220.0;
    let top = 10.0;
    let base = height - 24.0;
    let first = last - chrono::Duration::days(i64::from(days.saturating_sub(1)));
    let bars: Vec<Bar> = (0..days)
        .map(|i| {
            let day = first + chrono::Duration::days(i64::from(i));
            data.iter().find(|b| b.day == day).copied().unwrap_or(Bar {
                day,
                values: [0; 4],
            })
        })
        .collect();
    let max = bars.iter().flat_map(|b| b.values).max().unwrap_or(0).max(1);
    let slot = width / f64::from(days.max(1));
    let bar_w = (slot * 0.8 / SERIES.len() as f64).max(1.0);
    let scale = |v: i64| (base - top) * (v as f64) / (max as f64);
    let mut rects = Vec::new();
    let mut ticks = Vec::new();
    for (i, bar) in bars.iter().enumerate() {
        let x = slot * i as f64 + slot * 0.1;
        let label = bar.day.format("%m-%d").to_string();
        for (n, (class, value)) in SERIES.iter().zip(bar.values).enumerate() {
            let h = scale(value);
            rects.push(Rect {
                x: x + bar_w * n as f64,
                y: base - h,
                w: bar_w,
                h,
                class,
                title: format!("{label} {}: {value}", names[n]),
            });
        }
        if i % 5 == 0 || i + 1 == bars.len() {
            ticks.push(Tick {
                x: x + bar_w * 2.0,
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
    fn every_day_gets_a_bar_per_step_and_the_tallest_reaches_the_top() {
        let last = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let chart = daily(
            last,
            30,
            &[Bar {
                day: last,
                values: [3, 10, 4, 1],
            }],
            ["打开", "领卡", "激活", "删卡"],
        );
        assert_eq!(chart.rects.len(), 120);
        assert_eq!(chart.max, 10);
        let today: Vec<&str> = chart.rects[116..]
            .iter()
            .map(|r| r.title.as_str())
            .collect();
        assert_eq!(
            today,
            [
                "11-26 打开: 3",
                "11-26 领卡: 10",
                "11-26 激活: 4",
                "11-26 删卡: 1"
            ]
        );
        let tallest = chart.rects.iter().map(|r| r.h).fold(0.0, f64::max);
        assert!((tallest - (chart.base - 10.0)).abs() < 1e-9);
        assert_eq!(chart.ticks.last().unwrap().label, "11-26");
    }
}
