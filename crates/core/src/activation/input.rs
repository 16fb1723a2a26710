//! What the mini-program or the after-submit page hands in, checked before anything is stored: the
//! ticket and the encrypted code, percent-decoded at most once.

use crate::refusal::Refusal;
use crate::CoreError;

pub(super) fn check_ticket(raw: &str) -> Result<String, CoreError> {
    let raw = raw.trim();
    // A ticket cut from a URL arrives percent-encoded; decode exactly once and never turn `+` into space.
    let ticket = if raw.contains('%') {
        urlencoding::decode(raw)
            .map_err(|_| {
                CoreError::refused(Refusal::TicketInvalid, "the activate_ticket is not valid")
            })?
            .into_owned()
    } else {
        raw.to_owned()
    };
    let base64_like = ticket
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    if ticket.is_empty() || ticket.len() > 512 || !base64_like {
        return Err(CoreError::refused(
            Refusal::TicketInvalid,
            "activate_ticket must be the Base64 ticket the card-opening component returned",
        ));
    }
    Ok(ticket)
}

pub(super) fn check_encrypt_code(raw: &str) -> Result<String, CoreError> {
    let code = raw.trim();
    let valid = !code.is_empty()
        && code.len() <= 256
        && code.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_' | b'%')
        });
    if !valid {
        return Err(CoreError::refused(
            Refusal::CodeInvalid,
            "encrypt_code must be the code the card-opening component returned",
        ));
    }
    if code.contains('%') {
        return urlencoding::decode(code)
            .map(|c| c.into_owned())
            .map_err(|_| CoreError::refused(Refusal::CodeInvalid, "encrypt_code is not valid"));
    }
    Ok(code.to_owned())
}

/// Card codes are decimal digits; a corrupted decrypt (reported at WeChat) must not be activated.
pub(super) fn plausible_code(code: &str) -> bool {
    (8..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}
