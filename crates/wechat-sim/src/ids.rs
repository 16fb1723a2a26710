//! Identifiers shaped like WeChat's (reference §14).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use sha1::{Digest as _, Sha1};

const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const DIGITS: &[u8] = b"0123456789";

/// A generator seeded from `domain` and `parts` alone, for identifiers that must come out the same
/// in every simulator and after every restart (WeChat's `biz`, `encrypt_card_id` and openids are
/// fixed per account, card and user), independent of the simulator seed.
pub(crate) fn derived_rng(domain: &str, parts: &[&str]) -> StdRng {
    let mut hash = Sha1::new();
    hash.update(domain.as_bytes());
    for part in parts {
        hash.update([0u8]);
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    StdRng::seed_from_u64(u64::from_le_bytes(seed))
}

/// The bizuin of an account: a function of its AppID, so `biz` survives a restart.
pub(crate) fn bizuin_for(app_id: &str) -> String {
    bizuin(&mut derived_rng("bizuin", &[app_id]))
}

/// The id prefix of an account or mini-program: a function of its AppID.
pub(crate) fn prefix_for(app_id: &str) -> String {
    account_prefix(&mut derived_rng("prefix", &[app_id]))
}

/// The `encrypt_card_id` of a card: a function of the card id, as WeChat's is.
pub(crate) fn encrypt_card_id_for(card_id: &str) -> String {
    opaque_base64(&mut derived_rng("encrypt_card_id", &[card_id]), 48)
}

/// The openid of `user` under `app_id`: a function of both, so users keep their openid across
/// restarts.
pub(crate) fn openid_for(app_id: &str, user: &str, prefix: &str) -> String {
    openid(&mut derived_rng("openid", &[app_id, user]), prefix)
}

/// The unionid of `user`: a function of the user name.
pub(crate) fn unionid_for(user: &str) -> String {
    unionid(&mut derived_rng("unionid", &[user]))
}

pub(crate) fn pick(rng: &mut StdRng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

pub(crate) fn app_id(rng: &mut StdRng) -> String {
    format!("wx{}", pick(rng, HEX, 16))
}

pub(crate) fn app_secret(rng: &mut StdRng) -> String {
    pick(rng, HEX, 32)
}

pub(crate) fn callback_token(rng: &mut StdRng) -> String {
    pick(rng, ALNUM, 32)
}

/// 43 characters that decode (with `=` appended) to exactly 32 bytes.
pub(crate) fn encoding_aes_key(rng: &mut StdRng) -> String {
    let bytes: [u8; 32] = rng.gen();
    STANDARD.encode(bytes).trim_end_matches('=').to_owned()
}

pub(crate) fn original_id(rng: &mut StdRng) -> String {
    format!("gh_{}", pick(rng, HEX, 12))
}

/// Ten decimal digits, like the bizuins behind the `biz` samples of reference §5.
pub(crate) fn bizuin(rng: &mut StdRng) -> String {
    format!("{}{}", rng.gen_range(1..=3), pick(rng, DIGITS, 9))
}

/// The five characters shared by one account's card ids and openids (`pZI8Fj…`/`oZI8Fj…`).
pub(crate) fn account_prefix(rng: &mut StdRng) -> String {
    pick(rng, URL_SAFE, 5)
}

/// 28 characters: `p`, the account prefix, 22 more.
pub(crate) fn card_id(rng: &mut StdRng, prefix: &str) -> String {
    format!("p{prefix}{}", pick(rng, URL_SAFE, 22))
}

/// 28 characters: `o`, the account prefix, 22 more.
pub(crate) fn openid(rng: &mut StdRng, prefix: &str) -> String {
    format!("o{prefix}{}", pick(rng, URL_SAFE, 22))
}

/// Whether `s` has the shape of an openid of the account with id prefix `prefix`.
pub(crate) fn is_openid_of(s: &str, prefix: &str) -> bool {
    s.len() == 28
        && s.strip_prefix('o')
            .and_then(|rest| rest.strip_prefix(prefix))
            .is_some_and(|rest| rest.bytes().all(|b| URL_SAFE.contains(&b)))
}

pub(crate) fn unionid(rng: &mut StdRng) -> String {
    format!("o{}", pick(rng, URL_SAFE, 27))
}

/// Card codes are 12 decimal digits in every sample.
pub(crate) fn card_code(rng: &mut StdRng) -> String {
    pick(rng, DIGITS, 12)
}

/// Standard Base64 of `n` random bytes, redrawn until it holds both `+` and `/`, so that a client
/// that form-decodes (`+` → space) or forgets to percent-encode fails every time, not one time in eight.
pub(crate) fn opaque_base64(rng: &mut StdRng, n: usize) -> String {
    loop {
        let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        let s = STANDARD.encode(bytes);
        if s.contains('+') && s.contains('/') {
            return s;
        }
    }
}

pub(crate) fn access_token(rng: &mut StdRng, serial: u64) -> String {
    format!("{}_{}", 80 + serial % 20, pick(rng, URL_SAFE, 133))
}

pub(crate) fn login_code(rng: &mut StdRng) -> String {
    pick(rng, ALNUM, 32)
}

pub(crate) fn session_key(rng: &mut StdRng) -> String {
    let bytes: [u8; 16] = rng.gen();
    STANDARD.encode(bytes)
}

pub(crate) fn media_url(rng: &mut StdRng, ext: &str) -> String {
    format!(
        "http://mmbiz.qpic.cn/mmbiz_{ext}/{}/0",
        pick(rng, ALNUM, 54)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_have_the_reference_shapes() {
        let mut rng = StdRng::seed_from_u64(1);
        let prefix = account_prefix(&mut rng);
        assert_eq!(card_id(&mut rng, &prefix).len(), 28);
        assert!(openid(&mut rng, &prefix).starts_with(&format!("o{prefix}")));
        assert_eq!(opaque_base64(&mut rng, 48).len(), 64);
        let ticket = opaque_base64(&mut rng, 80);
        assert_eq!(ticket.len(), 108);
        assert!(ticket.ends_with('=') && !ticket.ends_with("=="));
        let key = encoding_aes_key(&mut rng);
        assert!(kaika_wechat::crypto::MessageCrypt::new(&key, "wx1").is_ok());
        assert_eq!(STANDARD.encode(bizuin(&mut rng)).len(), 16);
    }

    #[test]
    fn derived_identifiers_depend_only_on_their_inputs() {
        assert_eq!(bizuin_for("wx1"), bizuin_for("wx1"));
        assert_ne!(bizuin_for("wx1"), bizuin_for("wx2"));
        assert_eq!(bizuin_for("wx1").len(), 10);
        let e = encrypt_card_id_for("pABCDE");
        assert_eq!(e, encrypt_card_id_for("pABCDE"));
        assert_ne!(e, encrypt_card_id_for("pABCDF"));
        assert_eq!(e.len(), 64);
        assert!(e.contains('+') && e.contains('/'));
        let p = prefix_for("wx1");
        assert_eq!(p.len(), 5);
        let o = openid_for("wx1", "alice", &p);
        assert_eq!(o, openid_for("wx1", "alice", &p));
        assert_ne!(o, openid_for("wx1", "bob", &p));
        assert_ne!(o, openid_for("wx2", "alice", &p));
        assert_eq!(o.len(), 28);
        assert!(is_openid_of(&o, &p));
        assert!(!is_openid_of(&o, &prefix_for("wx2")));
        assert!(!is_openid_of(&o[..27], &p));
        assert!(!is_openid_of(&format!("{}!", &o[..27]), &p));
        assert_eq!(unionid_for("alice"), unionid_for("alice"));
    }
}
