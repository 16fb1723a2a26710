//! `kaika events list|show|retry`: inspect stored WeChat events and replay them.

use anyhow::Context as _;
use kaika_core::display::Zone;
use kaika_core::entity::wechat_events;
use kaika_core::events::{self, EventFilter};

use crate::cli::EventsAction;
use crate::config::Settings;
use crate::startup;

/// `text` on one line (control characters as spaces), cut to `max` characters with an ellipsis.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

fn print_row(zone: &Zone, row: &wechat_events::Model) {
    println!(
        "{:>8}  {:<10}  {:<28}  {:<28}  {:<14}  {:<19}  {:>3}  {}",
        row.id,
        row.status,
        one_line(&row.event, 28),
        one_line(row.wechat_card_id.as_deref().unwrap_or("-"), 28),
        one_line(row.user_card_code.as_deref().unwrap_or("-"), 14),
        zone.unix(row.create_time),
        row.attempts,
        one_line(
            row.last_error
                .as_deref()
                .or(row.outcome.as_deref())
                .unwrap_or(""),
            80
        ),
    );
}

fn print_details(zone: &Zone, row: &wechat_events::Model) {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "-".to_owned(), |t| zone.with_offset(&t))
    };
    println!("id             {}", row.id);
    println!("account        {}", row.account_id);
    println!("event          {}", row.event);
    println!("msg_type       {}", row.msg_type);
    println!("from           {}", row.from_user_name);
    println!(
        "card           {}",
        row.wechat_card_id.as_deref().unwrap_or("-")
    );
    println!(
        "code           {}",
        row.user_card_code.as_deref().unwrap_or("-")
    );
    println!(
        "create_time    {}",
        chrono::DateTime::from_timestamp(row.create_time, 0)
            .map_or_else(|| row.create_time.to_string(), |t| zone.with_offset(&t))
    );
    println!("dedupe_key     {}", row.dedupe_key);
    println!("status         {}", row.status);
    println!("attempts       {}", row.attempts);
    println!("next_attempt   {}", zone.with_offset(&row.next_attempt_at));
    println!(
        "lease          {} until {}",
        row.lease_holder.as_deref().unwrap_or("-"),
        time(row.lease_until)
    );
    println!("received_at    {}", zone.with_offset(&row.received_at));
    println!("processed_at   {}", time(row.processed_at));
    println!("outcome        {}", row.outcome.as_deref().unwrap_or("-"));
    println!(
        "last_error     {}",
        row.last_error.as_deref().unwrap_or("-")
    );
    println!("xml:\n{}", row.raw_xml);
}

/// Runs `kaika events …`.
pub async fn run(settings: &Settings, action: EventsAction) -> anyhow::Result<()> {
    let db = startup::connect(settings).await?;
    match action {
        EventsAction::List {
            status,
            event,
            app_id,
            limit,
        } => {
            let rows = events::list(
                &db,
                &EventFilter {
                    status,
                    event,
                    app_id,
                    limit: Some(limit),
                },
            )
            .await
            .context("cannot list events")?;
            println!(
                "{:>8}  {:<10}  {:<28}  {:<28}  {:<14}  {:<19}  {:>3}  outcome / last error",
                "id", "status", "event", "card", "code", "sent by WeChat", "try"
            );
            for row in &rows {
                print_row(&settings.time_zone, row);
            }
            let counts = events::count_by_status(&db).await?;
            let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
            println!("{} shown; in total: {}", rows.len(), summary.join(", "));
        }
        EventsAction::Show { id } => {
            let row = events::get(&db, id).await?;
            print_details(&settings.time_zone, &row);
        }
        EventsAction::Retry { ids, failed } => {
            if failed {
                let n = events::retry_failed(&db).await?;
                println!("{n} failed events scheduled again");
            }
            for id in ids {
                let row = events::retry(&db, id).await?;
                println!("event {} ({}) scheduled again", row.id, row.event);
            }
        }
    }
    Ok(())
}
