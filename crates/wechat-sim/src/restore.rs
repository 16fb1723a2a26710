//! Re-creating state that lives outside the simulator: Kaika's sandbox keeps its account and cards
//! in the database, while the simulator forgets everything on restart.
//!
//! Accounts need nothing special: [`Simulator::create_account`] takes every credential explicitly,
//! and the identifiers the simulator derives (`biz`, the id prefix, openids, `encrypt_card_id`)
//! are functions of the AppID, user and card id, so they come out the same after a restart.

use serde_json::Value;

use crate::api::cards::{
    check_base_fields, check_card_fields, check_form_part, is_one_tap, schedule_review,
};
use crate::errors::{SimError, WxError};
use crate::ids;
use crate::model::{Card, CardStatus};
use crate::sim::{secs, Simulator};

fn invalid(what: &str, e: &WxError) -> SimError {
    SimError::Invalid(format!("{what}: errcode {} ({})", e.errcode, e.errmsg))
}

impl Simulator {
    /// Re-creates the member card `card_id` of the official account `app_id` with the given
    /// `member_card` object (as sent to `card/create`, after any `card/update`; `base_info.id` and
    /// `base_info.status` are dropped), review status (`approved`, else pending with the usual
    /// review delay) and activation form (the `activateuserform/set` body; its `card_id` may be
    /// left out or empty).
    ///
    /// Afterwards `geturl`, the component page and activation work for the card, and its
    /// `encrypt_card_id` is the one it had before the restart (it is derived from the card id), so
    /// cached activation parameters stay valid.
    ///
    /// Restoring a card that already exists in the same account replaces its template, status and
    /// form and keeps its issued codes. Fails with [`SimError::UnknownAccount`] when `app_id` is not
    /// an official account here, and [`SimError::Invalid`] when the card id belongs to another
    /// account or the JSON is not what `card/create` / `activateuserform/set` accept (date ranges
    /// in the past are allowed).
    pub fn restore_card(
        &self,
        app_id: &str,
        card_id: &str,
        member_card_json: Value,
        approved: bool,
        form: Option<Value>,
    ) -> Result<(), SimError> {
        if card_id.trim().is_empty() {
            return Err(SimError::Invalid("card_id must not be empty".into()));
        }
        let Value::Object(mut mc) = member_card_json else {
            return Err(SimError::Invalid(
                "member_card must be a JSON object".into(),
            ));
        };
        let base = match mc.get_mut("base_info") {
            Some(Value::Object(base)) => base,
            _ => return Err(SimError::Invalid("member_card.base_info is missing".into())),
        };
        base.remove("id");
        base.remove("status");
        check_base_fields(base, true).map_err(|e| invalid("member_card.base_info", &e))?;
        let quantity = base
            .get("sku")
            .and_then(|s| s.get("quantity"))
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                SimError::Invalid("member_card.base_info.sku.quantity is missing".into())
            })?;
        check_card_fields(&mc).map_err(|e| invalid("member_card", &e))?;
        let form = form.map(|f| checked_form(f, card_id)).transpose()?;

        let now = self.now();
        let review_delay = self.config().review_delay;
        {
            let mut st = self.state();
            if !st.accounts.contains_key(app_id) {
                return Err(SimError::UnknownAccount(app_id.to_owned()));
            }
            let existing = st.cards.get(card_id);
            if let Some(other) = existing.filter(|c| c.app_id != app_id) {
                return Err(SimError::Invalid(format!(
                    "card {card_id} belongs to account {}",
                    other.app_id
                )));
            }
            let encrypt_card_id = ids::encrypt_card_id_for(card_id);
            let mut card = Card {
                card_id: card_id.to_owned(),
                app_id: app_id.to_owned(),
                member_card: Value::Object(mc),
                status: if approved {
                    CardStatus::VerifyOk
                } else {
                    CardStatus::NotVerify
                },
                created_at: existing.map_or(now, |c| c.created_at),
                review_due: (!approved)
                    .then(|| review_delay.map(|d| now + secs(d)))
                    .flatten(),
                quantity,
                total_quantity: existing.map_or(quantity, |c| c.total_quantity.max(quantity)),
                form: None,
                encrypt_card_id: Some(encrypt_card_id.clone()),
            };
            if form.is_some() && !is_one_tap(&card) {
                return Err(SimError::Invalid(
                    "a form needs a one-tap card (wx_activate without auto_activate or activate_url)"
                        .into(),
                ));
            }
            card.form = form;
            if existing.is_none() {
                st.card_order.push(card_id.to_owned());
            }
            st.encrypt_card_ids
                .insert(encrypt_card_id, card_id.to_owned());
            st.cards.insert(card_id.to_owned(), card);
        }
        if let (false, Some(delay)) = (approved, review_delay) {
            schedule_review(self, delay);
        }
        Ok(())
    }
}

/// The form as `activateuserform/set` would store it, with `card_id` filled in.
fn checked_form(form: Value, card_id: &str) -> Result<Value, SimError> {
    let Value::Object(mut form) = form else {
        return Err(SimError::Invalid("form must be a JSON object".into()));
    };
    match form.get("card_id") {
        None | Some(Value::Null) => {
            form.insert("card_id".into(), Value::String(card_id.to_owned()));
        }
        Some(Value::String(id)) if id.is_empty() => {
            form.insert("card_id".into(), Value::String(card_id.to_owned()));
        }
        Some(Value::String(id)) if id == card_id => {}
        Some(other) => {
            return Err(SimError::Invalid(format!(
                "form.card_id is {other}, not {card_id}"
            )))
        }
    }
    let mut parts = 0;
    for key in ["required_form", "optional_form"] {
        match form.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(part)) => {
                check_form_part(part).map_err(|e| invalid(&format!("form.{key}"), &e))?;
                parts += 1;
            }
            Some(_) => return Err(SimError::Invalid(format!("form.{key} must be an object"))),
        }
    }
    if parts == 0 {
        return Err(SimError::Invalid(
            "form needs required_form or optional_form".into(),
        ));
    }
    Ok(Value::Object(form))
}
