//! The one error type of kaika-core.

use sea_orm::DbErr;

use crate::refusal::Refusal;

/// Everything a use case of kaika-core can fail with. The web layer maps these to status codes.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A value given by a caller broke a rule; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        /// The field or argument that was refused.
        field: &'static str,
        /// What was expected, in one sentence.
        message: String,
    },
    /// The thing asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. "account wx0123456789abcdef".
        what: String,
    },
    /// The thing to create exists already.
    #[error("{what} already exists")]
    Conflict {
        /// What collided.
        what: String,
    },
    /// A stored secret could not be decrypted with the configured master key.
    #[error("the master key cannot decrypt the stored {what}: was KAIKA__MASTER_KEY changed?")]
    WrongMasterKey {
        /// Which secret failed, e.g. "AppSecret of account wx…".
        what: String,
    },
    /// A request the domain refuses, with a stable machine code (`ticket_invalid`, `card_not_found`…)
    /// that clients can switch on.
    #[error("{message}")]
    Refused {
        /// Why, with its stable code.
        refusal: Refusal,
        /// One sentence for humans.
        message: String,
    },
    /// The same work is being done by another request right now; ask again shortly.
    #[error("the same request is still being processed")]
    InProgress,
    /// WeChat failed or is unreachable.
    #[error(transparent)]
    Wechat(#[from] kaika_wechat::error::WechatError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl CoreError {
    /// Shorthand for [`CoreError::Refused`].
    pub fn refused(refusal: Refusal, message: impl Into<String>) -> Self {
        Self::Refused {
            refusal,
            message: message.into(),
        }
    }

    /// What a failed WeChat call means for whoever sent what WeChat refused: a refusal when it was
    /// their input (a used `wx.login` code, a bad or expired ticket), `None` when WeChat itself failed.
    pub fn wechat_refusal(&self) -> Option<Refusal> {
        let Self::Wechat(err) = self else {
            return None;
        };
        match err.kind() {
            kaika_wechat::ErrorKind::InvalidJsCode => Some(Refusal::InvalidLoginCode),
            kaika_wechat::ErrorKind::InvalidTicket => Some(Refusal::TicketInvalid),
            kaika_wechat::ErrorKind::TicketExpired => Some(Refusal::TicketExpired),
            _ => None,
        }
    }

    /// Shorthand for [`CoreError::Invalid`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}
