//! WeChat message security (WXBizMsgCrypt): URL and message signatures, AES-256-CBC with the 32-byte
//! PKCS#7 padding WeChat uses, and the `random ‖ len ‖ msg ‖ appid` framing (reference §10).

use aes::Aes256;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand::RngCore as _;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq as _;

/// EncodingAESKeys are 43 arbitrary base64 characters, so the unused low bits of the last one are
/// often non-zero (the official sample key ends in `G`); a strict decoder would refuse them.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// WeChat pads to 32-byte blocks, not AES's 16 (reference Appendix A).
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LEN_PREFIX: usize = 4;

/// Why a key could not be loaded or a message could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 base64 characters decoding to 32 bytes (official code -40004).
    #[error("EncodingAESKey must be 43 base64 characters that decode to 32 bytes")]
    InvalidKey,
    /// The `Encrypt` value is not standard base64 (official code -40010).
    #[error("ciphertext is not valid base64")]
    InvalidBase64,
    /// The ciphertext is empty or not a whole number of AES blocks (official code -40007).
    #[error("ciphertext is not a whole number of AES blocks")]
    InvalidCiphertext,
    /// The last byte is not a valid 32-byte PKCS#7 pad (official code -40007).
    #[error("invalid PKCS#7 padding")]
    InvalidPadding,
    /// The decrypted buffer is too short or its length prefix points past its end (official code -40008).
    #[error("decrypted buffer has an invalid length field")]
    InvalidLength,
    /// The AppID at the end of the plaintext is not ours (official code -40005).
    #[error("message is for app id {found:?}, expected {expected:?}")]
    AppIdMismatch {
        /// The AppID this `MessageCrypt` was built for.
        expected: String,
        /// The AppID found inside the message.
        found: String,
    },
    /// The message or AppID is not UTF-8.
    #[error("decrypted message is not valid UTF-8")]
    InvalidUtf8,
}

impl CryptoError {
    /// The error code the official sample libraries use for this failure (reference §10.3).
    pub fn official_code(&self) -> i32 {
        match self {
            CryptoError::InvalidKey => -40004,
            CryptoError::InvalidBase64 => -40010,
            CryptoError::InvalidCiphertext | CryptoError::InvalidPadding => -40007,
            CryptoError::InvalidLength | CryptoError::InvalidUtf8 => -40008,
            CryptoError::AppIdMismatch { .. } => -40005,
        }
    }
}

fn sha1_sorted_hex(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts.iter() {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The plain-mode signature of a push or of the URL handshake: lowercase hex SHA-1 of the
/// lexicographically sorted concatenation of `token`, `timestamp` and `nonce`.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sha1_sorted_hex(&mut [token, timestamp, nonce])
}

/// The safe-mode `msg_signature`: lowercase hex SHA-1 of the sorted concatenation of `token`,
/// `timestamp`, `nonce` and the base64 `Encrypt` value.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sha1_sorted_hex(&mut [token, timestamp, nonce, encrypt])
}

/// Compares a received signature with a computed one without an early exit on the first differing
/// byte; hex letters compare case-insensitively.
pub fn verify_signature(expected_hex: &str, computed: &str) -> bool {
    let a = expected_hex.to_ascii_lowercase();
    let b = computed.to_ascii_lowercase();
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Encrypts and decrypts message bodies for one account (EncodingAESKey + AppID).
///
/// `Debug` prints the AppID only; the key never appears in logs.
#[derive(Clone)]
pub struct MessageCrypt {
    key: [u8; 32],
    app_id: String,
}

impl std::fmt::Debug for MessageCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageCrypt")
            .field("app_id", &self.app_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

type Encryptor = cbc::Encryptor<Aes256>;
type Decryptor = cbc::Decryptor<Aes256>;

impl MessageCrypt {
    /// Loads a 43-character EncodingAESKey (base64 without its trailing `=`) for `app_id`.
    pub fn new(encoding_aes_key: &str, app_id: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::InvalidKey);
        }
        let decoded = KEY_ENGINE
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| CryptoError::InvalidKey)?;
        let key: [u8; 32] = decoded.try_into().map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self {
            key,
            app_id: app_id.to_owned(),
        })
    }

    /// The AppID messages are encrypted for and checked against.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// Encrypts `plaintext` with a fresh random 16-byte prefix from the OS CSPRNG; returns base64.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut random = [0u8; RANDOM_LEN];
        rand::rngs::OsRng.fill_bytes(&mut random);
        self.encrypt_with_random(plaintext, &random)
    }

    /// Encrypts with a caller-chosen random prefix: deterministic, for test vectors only.
    pub fn encrypt_with_random(&self, plaintext: &str, random: &[u8; 16]) -> String {
        let msg = plaintext.as_bytes();
        let app_id = self.app_id.as_bytes();
        let mut buf =
            Vec::with_capacity(RANDOM_LEN + LEN_PREFIX + msg.len() + app_id.len() + PAD_BLOCK);
        buf.extend_from_slice(random);
        // Messages over 4 GiB cannot be framed; WeChat's own limit is far lower.
        let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(app_id);
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        // pad is in 1..=32, so it fits a byte.
        buf.resize(buf.len() + pad, pad as u8);
        let cipher = Encryptor::new(&self.key.into(), &self.iv().into());
        let encrypted = cipher.encrypt_padded_vec_mut::<NoPadding>(&buf);
        STANDARD.encode(encrypted)
    }

    /// Decrypts a base64 `Encrypt` value and checks that the AppID inside is ours.
    pub fn decrypt(&self, encrypted_b64: &str) -> Result<String, CryptoError> {
        let (message, found) = self.decrypt_unchecked(encrypted_b64)?;
        if found != self.app_id {
            return Err(CryptoError::AppIdMismatch {
                expected: self.app_id.clone(),
                found,
            });
        }
        Ok(message)
    }

    /// Decrypts without checking the AppID; returns `(message, app_id_found)`.
    pub fn decrypt_unchecked(&self, encrypted_b64: &str) -> Result<(String, String), CryptoError> {
        let data = STANDARD
            .decode(encrypted_b64.trim())
            .map_err(|_| CryptoError::InvalidBase64)?;
        if data.is_empty() || data.len() % PAD_BLOCK != 0 {
            return Err(CryptoError::InvalidCiphertext);
        }
        let cipher = Decryptor::new(&self.key.into(), &self.iv().into());
        let mut plain = cipher
            .decrypt_padded_vec_mut::<NoPadding>(&data)
            .map_err(|_| CryptoError::InvalidCiphertext)?;
        let pad = usize::from(*plain.last().ok_or(CryptoError::InvalidCiphertext)?);
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(CryptoError::InvalidPadding);
        }
        let body_len = plain.len() - pad;
        if plain[body_len..].iter().any(|&b| usize::from(b) != pad) {
            return Err(CryptoError::InvalidPadding);
        }
        plain.truncate(body_len);
        if plain.len() < RANDOM_LEN + LEN_PREFIX {
            return Err(CryptoError::InvalidLength);
        }
        let mut len_bytes = [0u8; LEN_PREFIX];
        len_bytes.copy_from_slice(&plain[RANDOM_LEN..RANDOM_LEN + LEN_PREFIX]);
        let msg_len = usize::try_from(u32::from_be_bytes(len_bytes))
            .map_err(|_| CryptoError::InvalidLength)?;
        let msg_start = RANDOM_LEN + LEN_PREFIX;
        let msg_end = msg_start
            .checked_add(msg_len)
            .filter(|end| *end <= plain.len())
            .ok_or(CryptoError::InvalidLength)?;
        let message = std::str::from_utf8(&plain[msg_start..msg_end])
            .map_err(|_| CryptoError::InvalidUtf8)?
            .to_owned();
        let app_id = std::str::from_utf8(&plain[msg_end..])
            .map_err(|_| CryptoError::InvalidUtf8)?
            .to_owned();
        Ok((message, app_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APPID_A: &str = "wxb11529c136998cb6";
    const RANDOM_A: &[u8; 16] = b"aaaabbbbccccdddd";
    const ENCRYPT_A: &str =
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";

    const KEY_B: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const ID_B: &str = "wx49f0ab532d5d035a";

    const ENCRYPT_V2: &str = "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==";

    const SUBMIT_XML: &str = "<xml><ToUserName><![CDATA[gh_3fcea188bf78]]></ToUserName><FromUserName><![CDATA[obLatjlaNQKb8FqOvt1M1x1lIBFE]]></FromUserName><CreateTime>1432668700</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[submit_membercard_user_info]]></Event><CardId><![CDATA[pbLatjtZ7v1BG_ZnTjbW85GYc_E8]]></CardId><UserCardCode><![CDATA[018255396048]]></UserCardCode></xml>";
    const ENCRYPT_C: &str = "jn1L23DB+6ELqJ+6bruv2y+lXOr1Z9ql+KhajIuf4TYXeeAZLVM5kXN6ks165qLRY4VzC6TYt1wQLf6dCG4y9cw5dsZl0+oPOBNl7mLGYwuth7/eFBpMYDXaWBgKW0zd6COiLpmD+PGL1bJwbItZ73HEK9BJ44ccOb+TdrGjfCs4NuIRT29xpORvFmMcgfgTbDu6+E8yEOOWmyY5Da3IC1pGAci47DzjXnarXa+mMfzhnZhIbC0AOd6EFTJTN5DupFGuftJ/fwl2Qt+vvxYWD8FUsed8e8V/OWhWafE06INA2EOV0g1hkrotqPlWJB/kfgIpWiV39J3KyuEbaBo3jcj5AhyaMyS2GU0EmBtWgpR9uGE42DULGgB2yIGo4iOT+3te/ESQrU4llXjAhQ7HlmntIzWp40PV23rKb7z3jVS2YpRNcp+c6YarcnogMLZS8lUgXSmcw6YhkAhU6FyRc6quUbj+H68bgUfm33TZeGriW1AtpPGW1tczqqWjtrW4rGR0N4hNOUMikhjn83zcIrSySYaX2jltpu6bsrcKuYQ=";

    fn crypt_a() -> MessageCrypt {
        MessageCrypt::new(KEY_A, APPID_A).unwrap()
    }

    #[test]
    fn encoding_aes_key_decodes_to_the_documented_aes_key() {
        let c = crypt_a();
        assert_eq!(
            hex::encode(c.key),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
    }

    #[test]
    fn handshake_signature_matches_the_worked_examples() {
        assert_eq!(
            signature("AAAAA", "1714036504", "1514711492"),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_eq!(
            signature("AAAAA", "1714037059", "486452656"),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
        assert_eq!(
            signature("pamtest", "1409304348", "xxxxxx"),
            "76480565cbe296026c53aaacd1ad523a1ddba24f"
        );
    }

    #[test]
    fn plain_mode_signature_vector_v4_passes_and_its_mutation_fails() {
        let computed = signature("test", "1410685589", "test");
        assert_eq!(computed, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff");
        assert!(verify_signature(
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff",
            &computed
        ));
        assert!(verify_signature(
            "F21891DE399B4E33A1A93C9A7B8A8FFFB5A443FF",
            &computed
        ));
        assert!(!verify_signature(
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe",
            &computed
        ));
        assert!(!verify_signature(
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443",
            &computed
        ));
        assert!(!verify_signature("", &computed));
        assert!(!verify_signature("invalid-signature", &computed));
    }

    #[test]
    fn vector_a_encrypts_chinese_text_byte_for_byte() {
        let enc = crypt_a().encrypt_with_random("我是中文abcd123", RANDOM_A);
        assert_eq!(enc, ENCRYPT_A);
        assert_eq!(
            msg_signature("pamtest", "1409304348", "xxxxxx", &enc),
            "82c962d39941aa48552f90ef55aa323dc620cc10"
        );
    }

    #[test]
    fn vector_a_decrypts_with_pad_seven() {
        assert_eq!(crypt_a().decrypt(ENCRYPT_A).unwrap(), "我是中文abcd123");
        let (msg, app) = crypt_a().decrypt_unchecked(ENCRYPT_A).unwrap();
        assert_eq!((msg.as_str(), app.as_str()), ("我是中文abcd123", APPID_A));
    }

    #[test]
    fn vector_v2_with_pad_twenty_one_decrypts() {
        assert_eq!(
            msg_signature("pamtest", "1458300676", "260774613", ENCRYPT_V2),
            "4f3ad57b6989f09f4eb392acce4f9e93942ed890"
        );
        assert!(!verify_signature(
            "invalid-signature",
            &msg_signature("pamtest", "1458300676", "260774613", ENCRYPT_V2)
        ));
        let msg = crypt_a().decrypt(ENCRYPT_V2).unwrap();
        assert_eq!(msg, "<xml><URL><![CDATA[http://wechat.laravel.so/server]]></URL><ToUserName><![CDATA[asdasdasd]]></ToUserName><FromUserName><![CDATA[asdasdasdsadasd]]></FromUserName><CreateTime>1234567898</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>12345</MsgId></xml>");
    }

    #[test]
    fn vector_v2_refuses_another_app_id() {
        let other = MessageCrypt::new(KEY_A, "invalid appid").unwrap();
        match other.decrypt(ENCRYPT_V2) {
            Err(CryptoError::AppIdMismatch { expected, found }) => {
                assert_eq!(expected, "invalid appid");
                assert_eq!(found, APPID_A);
            }
            other => panic!("expected AppIdMismatch, got {other:?}"),
        }
    }

    #[test]
    fn vector_v5_full_thirty_two_byte_pad_round_trips() {
        let enc = crypt_a().encrypt_with_random("abcdefghijklmnopqrstuvwxyz", RANDOM_A);
        assert_eq!(enc, "jn1L23DB+6ELqJ+6bruv24kfnRA9CJ8qXRQfcTjuspbcu/BSVDHix6RSI3nK3z+fMd03dqZ5HIPCrQNNDa2xYd47apRHAo9FEf57/GQVWffqnF3WzheksoIGmk00BgBc");
        assert_eq!(
            msg_signature("pamtest", "1409304348", "xxxxxx", &enc),
            "2b07674cc11d69d1eb5a852d4d239f5190949b19"
        );
        assert_eq!(
            crypt_a().decrypt(&enc).unwrap(),
            "abcdefghijklmnopqrstuvwxyz"
        );
    }

    #[test]
    fn vector_b_wecom_echostr_decrypts() {
        let echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
        assert_eq!(
            msg_signature("123456", "1411443780", "437374425", echostr),
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
        );
        let c = MessageCrypt::new(KEY_B, ID_B).unwrap();
        assert_eq!(c.decrypt(echostr).unwrap(), "5927782489442352469");
    }

    #[test]
    fn vector_b_encrypts_and_signs() {
        let c = MessageCrypt::new(KEY_B, ID_B).unwrap();
        let msg = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        let enc = c.encrypt_with_random(msg, b"1234567890123456");
        assert_eq!(enc, "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3");
        assert_eq!(
            msg_signature("123456", "1411525903", "461056294", &enc),
            "407518b7649e86ef23978113f92d27afa9296533"
        );
    }

    #[test]
    fn vector_b_decrypts_an_incoming_message() {
        let c = MessageCrypt::new(KEY_B, ID_B).unwrap();
        let enc = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        assert_eq!(
            msg_signature("123456", "1411525903", "461056294", enc),
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
        );
        assert_eq!(c.decrypt(enc).unwrap(), "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>");
    }

    #[test]
    fn vector_c_encrypts_the_submit_event() {
        let enc = crypt_a().encrypt_with_random(SUBMIT_XML, RANDOM_A);
        assert_eq!(enc, ENCRYPT_C);
        assert_eq!(
            msg_signature("pamtest", "1409304348", "xxxxxx", &enc),
            "08f51abc0b2fa752d7affdba9c19251f3909cefa"
        );
        assert_eq!(crypt_a().decrypt(ENCRYPT_C).unwrap(), SUBMIT_XML);
    }

    #[test]
    fn random_encryption_round_trips_and_differs_each_time() {
        let c = crypt_a();
        let one = c.encrypt("你好 world");
        let two = c.encrypt("你好 world");
        assert_ne!(one, two);
        assert_eq!(c.decrypt(&one).unwrap(), "你好 world");
        assert_eq!(c.decrypt(&two).unwrap(), "你好 world");
        assert_eq!(c.decrypt(&c.encrypt("")).unwrap(), "");
    }

    #[test]
    fn bad_keys_are_refused() {
        assert_eq!(
            MessageCrypt::new("short", APPID_A).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            MessageCrypt::new(&format!("{KEY_A}="), APPID_A).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            MessageCrypt::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDE!G", APPID_A).unwrap_err(),
            CryptoError::InvalidKey
        );
    }

    #[test]
    fn malformed_ciphertexts_are_errors_not_panics() {
        let c = crypt_a();
        assert_eq!(
            c.decrypt("not base64!!").unwrap_err(),
            CryptoError::InvalidBase64
        );
        assert_eq!(c.decrypt("").unwrap_err(), CryptoError::InvalidCiphertext);
        assert_eq!(
            c.decrypt(&STANDARD.encode([0u8; 16])).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        assert_eq!(
            c.decrypt(&STANDARD.encode([0u8; 33])).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
    }

    fn encrypt_raw(c: &MessageCrypt, raw: &[u8]) -> String {
        let cipher = Encryptor::new(&c.key.into(), &c.iv().into());
        STANDARD.encode(cipher.encrypt_padded_vec_mut::<NoPadding>(raw))
    }

    #[test]
    fn pad_values_outside_one_to_thirty_two_are_refused() {
        let c = crypt_a();
        let mut zero = vec![b'a'; 64];
        zero[63] = 0;
        assert_eq!(
            c.decrypt(&encrypt_raw(&c, &zero)).unwrap_err(),
            CryptoError::InvalidPadding
        );
        let mut big = vec![b'a'; 64];
        big[63] = 33;
        assert_eq!(
            c.decrypt(&encrypt_raw(&c, &big)).unwrap_err(),
            CryptoError::InvalidPadding
        );
        let mut inconsistent = vec![b'a'; 64];
        inconsistent[63] = 3;
        inconsistent[62] = 3;
        assert_eq!(
            c.decrypt(&encrypt_raw(&c, &inconsistent)).unwrap_err(),
            CryptoError::InvalidPadding
        );
    }

    #[test]
    fn a_length_prefix_beyond_the_buffer_is_refused() {
        let c = crypt_a();
        let mut raw = vec![b'r'; 16];
        raw.extend_from_slice(&1000u32.to_be_bytes());
        raw.extend_from_slice(b"short");
        let pad = 32 - raw.len() % 32;
        raw.resize(raw.len() + pad, pad as u8);
        assert_eq!(
            c.decrypt(&encrypt_raw(&c, &raw)).unwrap_err(),
            CryptoError::InvalidLength
        );
        let mut tiny = vec![b'r'; 8];
        tiny.resize(32, 24);
        assert_eq!(
            c.decrypt(&encrypt_raw(&c, &tiny)).unwrap_err(),
            CryptoError::InvalidLength
        );
    }

    #[test]
    fn invalid_utf8_inside_is_refused() {
        let c = crypt_a();
        let mut raw = vec![b'r'; 16];
        raw.extend_from_slice(&2u32.to_be_bytes());
        raw.extend_from_slice(&[0xff, 0xfe]);
        raw.extend_from_slice(APPID_A.as_bytes());
        let pad = 32 - raw.len() % 32;
        raw.resize(raw.len() + pad, pad as u8);
        assert_eq!(
            c.decrypt(&encrypt_raw(&c, &raw)).unwrap_err(),
            CryptoError::InvalidUtf8
        );
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        let text = format!("{:?}", crypt_a());
        assert!(text.contains(APPID_A));
        assert!(!text.contains("69b71d79"));
        assert!(!text.contains(KEY_A));
        assert!(!text.contains("105"), "raw key bytes leaked: {text}");
    }

    #[test]
    fn official_codes_follow_the_sample_library_table() {
        assert_eq!(CryptoError::InvalidKey.official_code(), -40004);
        assert_eq!(
            CryptoError::AppIdMismatch {
                expected: String::new(),
                found: String::new()
            }
            .official_code(),
            -40005
        );
    }
}
