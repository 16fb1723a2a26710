//! Asking an operator before a command destroys data (`kaika migrate down`, `kaika restore`).

use std::io::{BufRead, IsTerminal, Write};

/// Goes on when `yes` was given (`--yes`) or the operator types `yes` on a terminal; otherwise fails with
/// a sentence saying what would have happened and how to confirm it.
pub fn confirm(what: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("{what}: not done without confirmation; run again with --yes");
    }
    eprint!("{what}. Type yes to go on: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        anyhow::bail!("{what}: not confirmed, nothing was changed")
    }
}
