use std::fmt;

/// A secret value.
///
/// `Debug` and `Display` print `[secret]` so a value cannot end up in a log line or an error
/// message by accident; [`SecretValue::expose`] is the one explicit way to read it. The bytes are
/// overwritten with zeros when the value is dropped, which keeps freed heap memory from holding
/// secrets (copies made through `expose` are the caller's responsibility).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(s: impl Into<String>) -> Self {
        SecretValue(s.into())
    }

    /// The plain value. Call this only where the value must leave the host: the network edge.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length of the value in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        // SAFETY: only zero bytes are written, and a run of NULs is valid UTF-8, so the String
        // invariant holds even though the String is dropped right after.
        let bytes = unsafe { self.0.as_mut_vec() };
        wipe(bytes);
    }
}

/// Overwrites `bytes` with zeros in a way the optimiser may not remove as a dead store.
pub(crate) fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to one byte.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}
