//! sea-orm entities, one module per table.

pub mod access_tokens;
pub mod accounts;
