//! `crate::sandbox` in a build without the `sandbox` feature (the production image): no simulator, no
//! demo journey. [`Sandbox`] has no value, so every `Option<Sandbox>` is `None` and the routing table
//! mounts neither `/sim` nor `/sandbox`; the settings refuse `sandbox.mode = "on"`.

use std::net::SocketAddr;

use crate::config::Settings;
use crate::startup::Context;

/// A sandbox that cannot exist: this build has none.
#[derive(Clone, Debug)]
pub enum Sandbox {}

/// Never a sandbox. When no real account is configured either, says what to do instead.
pub async fn for_serve(ctx: &Context, settings: &Settings) -> anyhow::Result<Option<Sandbox>> {
    if settings.role.serves_http() {
        let accounts = kaika_core::accounts::list(&ctx.db).await?;
        if accounts.iter().any(|a| a.is_sandbox) {
            tracing::warn!(
                "the database holds a sandbox account, and this kaika was built without the sandbox: remove \
                 it with `kaika account remove APP_ID` (`kaika account list` names it)"
            );
        }
        if accounts.iter().all(|a| a.is_sandbox) {
            tracing::warn!(
                "no WeChat account is configured, and this kaika was built without the sandbox: add an \
                 account (`kaika account add …`, or in the admin)"
            );
        }
    }
    Ok(None)
}

/// Unreachable: there is no sandbox to set up.
pub fn set_up_in_background(_ctx: &Context, sandbox: Sandbox, _base: SocketAddr) {
    match sandbox {}
}
