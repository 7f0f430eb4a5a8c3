use std::borrow::Cow;
use std::fmt;

use crate::value::SecretValue;

/// Values shorter than this many bytes are not redacted: a 3-byte secret like `abc` would
/// shred ordinary text, and such a value gives no real protection anyway.
pub const MIN_REDACTED_LEN: usize = 6;

/// Replaces every occurrence of any known secret value with `[REDACTED:<name>]`.
///
/// Used on outbound requests, responses, guest errors, logs and tool output. Matching is exact
/// and byte-wise: encoded forms of a value (URL-encoded, base64 as in HTTP basic auth) are not
/// recognised. Values shorter than [`MIN_REDACTED_LEN`] bytes are ignored by [`Redactor::new`].
///
/// When occurrences of different values overlap, or one value contains another, the whole
/// overlapping stretch is replaced once and named after the longest value in it, so no part of
/// any secret survives next to the marker.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Sorted longest first, so at any position the first value that matches is the longest.
    secrets: Vec<(String, SecretValue)>,
    /// For each possible first byte, the indices (into `secrets`, so longest first) of the
    /// values starting with it: most positions of ordinary text are skipped without comparing
    /// anything, and the others only try the few values that can match there. Empty when
    /// there are no secrets.
    by_first_byte: Vec<Vec<usize>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.secrets.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Redactor").field("secrets", &names).finish()
    }
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = (String, SecretValue)>) -> Redactor {
        let mut list: Vec<(String, SecretValue)> = secrets
            .into_iter()
            .filter(|(_, v)| v.len() >= MIN_REDACTED_LEN)
            .collect();
        // Longest first. Equal values end up next to each other, ordered by name, so a value
        // stored under two names is always reported under the same (alphabetically first) one.
        list.sort_by(|a, b| {
            b.1.len()
                .cmp(&a.1.len())
                .then_with(|| a.1.expose().cmp(b.1.expose()))
                .then_with(|| a.0.cmp(&b.0))
        });
        list.dedup_by(|later, earlier| later.1 == earlier.1);
        let mut by_first_byte = Vec::new();
        if !list.is_empty() {
            by_first_byte = vec![Vec::new(); 256];
            for (index, (_, v)) in list.iter().enumerate() {
                if let Some(&b) = v.expose().as_bytes().first() {
                    by_first_byte[usize::from(b)].push(index);
                }
            }
        }
        Redactor {
            secrets: list,
            by_first_byte,
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret value replaced; borrowed when nothing was found.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Values are whole UTF-8 strings, so they match in UTF-8 text only on character
            // boundaries and the result stays valid; the lossy path is never taken in practice.
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// Like [`Redactor::redact`] for arbitrary bytes (bodies that need not be UTF-8).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let spans = self.spans(bytes, false);
        if spans.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut last = 0;
        for (start, end, index) in spans {
            out.extend_from_slice(&bytes[last..start]);
            out.extend_from_slice(b"[REDACTED:");
            out.extend_from_slice(self.secrets[index].0.as_bytes());
            out.push(b']');
            last = end;
        }
        out.extend_from_slice(&bytes[last..]);
        Cow::Owned(out)
    }

    /// The name of the first (leftmost) secret found in `text`, if any.
    pub fn contains_secret(&self, text: &[u8]) -> Option<&str> {
        self.spans(text, true)
            .first()
            .map(|&(_, _, index)| self.secrets[index].0.as_str())
    }

    /// Byte ranges to replace, in order and non-overlapping, each with the index of the secret
    /// that names it. `first_only` stops at the first match.
    fn spans(&self, hay: &[u8], first_only: bool) -> Vec<(usize, usize, usize)> {
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        if self.by_first_byte.is_empty() {
            return spans;
        }
        for (start, &byte) in hay.iter().enumerate() {
            let Some(candidates) = self.by_first_byte.get(usize::from(byte)) else {
                continue;
            };
            let rest = &hay[start..];
            // Longest first: the first hit is the longest value starting here.
            let Some(&index) = candidates
                .iter()
                .find(|&&i| rest.starts_with(self.secrets[i].1.expose().as_bytes()))
            else {
                continue;
            };
            let end = start + self.secrets[index].1.len();
            match spans.last_mut() {
                // Overlaps the previous stretch: extend it, named after the longer value.
                Some(last) if start < last.1 => {
                    last.1 = last.1.max(end);
                    if self.secrets[index].1.len() > self.secrets[last.2].1.len() {
                        last.2 = index;
                    }
                }
                _ => {
                    spans.push((start, end, index));
                    if first_only {
                        return spans;
                    }
                }
            }
        }
        spans
    }
}
