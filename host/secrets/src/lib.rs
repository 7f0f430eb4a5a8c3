//! Chitin's secret store and redactor.
//!
//! Plugins never see secret values. A guest writes `{{secret:NAME}}` where a value belongs and the
//! host substitutes it at the network edge ([`substitute`]); everything coming back from a plugin
//! (responses, errors, logs, tool output) goes through a [`Redactor`] that replaces any known
//! value with `[REDACTED:<name>]`.
//!
//! Values are kept encrypted at rest in one file (XChaCha20-Poly1305, see [`SecretStore`]) whose
//! key lives outside it ([`KeySource`]): an environment variable, a systemd credential, or a
//! `0600` key file next to the data.

mod error;
mod key;
mod placeholder;
mod redact;
mod store;
mod value;

pub use error::SecretsError;
pub use key::{KEY_ENV_VAR, KEY_FILE_NAME, KeySource, SYSTEMD_CREDENTIAL_NAME};
pub use placeholder::{PLACEHOLDER_PREFIX, PLACEHOLDER_SUFFIX, find_placeholders, substitute};
pub use redact::{MIN_REDACTED_LEN, Redactor};
pub use store::{SecretInfo, SecretStore};
pub use value::SecretValue;

/// The longest secret name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Whether `name` is a valid secret name: 1 to 128 characters from `A-Z a-z 0-9 _ . -`.
///
/// The same rule decides what [`find_placeholders`] recognises, so any name that can be stored
/// can be written as a placeholder and nothing else can.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.bytes().all(is_name_byte)
}

pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

#[cfg(test)]
mod tests;
