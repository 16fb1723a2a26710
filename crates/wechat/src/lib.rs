#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod auth;
pub mod card;
pub mod client;
pub mod crypto;
mod de;
pub mod error;
pub mod event;
pub mod geturl;
pub mod limits;
pub mod membercard;
pub mod observe;
mod string_enum;
pub mod token;
pub mod xml;

pub use client::{ClientConfig, TokenEndpoint, WechatClient};
pub use crypto::{CryptoError, MessageCrypt};
pub use error::{ErrorKind, WechatError};
pub use event::{Event, EventError};
pub use geturl::ActivationParams;
pub use observe::Observer;
pub use token::{MemoryTokenStore, TokenStore};
