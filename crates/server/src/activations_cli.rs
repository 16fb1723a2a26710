//! `kaika activations list|redrive`: see the activations that are not done and drive them again.

use anyhow::Context as _;
use kaika_core::activation;
use kaika_core::display::Zone;
use kaika_core::entity::activations;

use crate::cli::ActivationsAction;
use crate::config::Settings;
use crate::events_cli::one_line;
use crate::startup;

/// More activations than any one re-drive command goes through.
const ALL: u64 = 100_000;

fn print_row(zone: &Zone, row: &activations::Model) {
    let next = row
        .next_attempt_at
        .map_or_else(|| "-".to_owned(), |t| zone.with_offset(&t));
    let error = one_line(row.last_error.as_deref().unwrap_or(""), 80);
    println!(
        "{:>8}  {:<16}  {:<14}  {:>4}  {:<26}  {}",
        row.id,
        row.step,
        row.code.as_deref().unwrap_or("-"),
        row.attempts,
        next,
        error
    );
}

/// Runs `kaika activations …`.
pub async fn run(settings: &Settings, action: ActivationsAction) -> anyhow::Result<()> {
    match action {
        ActivationsAction::List { limit } => {
            let db = startup::connect(settings).await?;
            let rows = activation::unfinished_and_failed(&db, limit)
                .await
                .context("cannot list activations")?;
            println!(
                "{:>8}  {:<16}  {:<14}  {:>4}  {:<26}  last error",
                "id", "step", "code", "try", "next attempt"
            );
            for row in &rows {
                print_row(&settings.time_zone, row);
            }
            let waiting = activation::count_waiting_on_wechat(&db).await?;
            println!(
                "{} shown; {waiting} waiting on WeChat after activate (their cards are active)",
                rows.len()
            );
        }
        ActivationsAction::Redrive {
            mut ids,
            failed,
            unfinished,
        } => {
            let ctx = startup::prepare(settings).await?;
            if failed || unfinished {
                let rows = activation::unfinished_and_failed(&ctx.db, ALL).await?;
                ids.extend(
                    rows.iter()
                        .filter(|row| {
                            let is_failed = row.step == activation::Step::Failed.as_str();
                            (failed && is_failed) || (unfinished && !is_failed)
                        })
                        .map(|row| row.id),
                );
            }
            if ids.is_empty() {
                anyhow::bail!("name activation ids, or give --failed or --unfinished");
            }
            let (mut failed, mut waiting, mut busy) = (0, 0, 0);
            for id in ids {
                match ctx.activator.redrive(id).await {
                    Ok(row) => {
                        if row.step == activation::Step::Failed.as_str() {
                            failed += 1;
                        } else if row.step != activation::Step::Done.as_str() {
                            waiting += 1;
                        }
                        print_row(&settings.time_zone, &row);
                    }
                    Err(kaika_core::CoreError::InProgress) => {
                        busy += 1;
                        println!("{id:>8}  being driven by another process; left to it");
                    }
                    Err(err) => {
                        failed += 1;
                        println!("{id:>8}  cannot be re-driven: {err}");
                    }
                }
            }
            if failed > 0 || waiting > 0 {
                anyhow::bail!(
                    "{failed} activations failed again (see their last error), {waiting} still wait for \
                     WeChat (the background re-drive keeps trying them), {busy} were being driven"
                );
            }
        }
    }
    Ok(())
}
