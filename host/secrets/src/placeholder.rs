use std::ops::Range;

use crate::{MAX_NAME_LEN, is_name_byte};

/// Start of a secret placeholder: `{{secret:NAME}}`.
pub const PLACEHOLDER_PREFIX: &str = "{{secret:";
/// End of a secret placeholder.
pub const PLACEHOLDER_SUFFIX: &str = "}}";

/// Every well-formed `{{secret:NAME}}` in `text`, in order: the byte range of the whole
/// placeholder and the NAME. A NAME follows the secret-name rule (1 to 128 characters from
/// `A-Z a-z 0-9 _ . -`). Anything malformed — `{{secret:}}`, a bad character, a missing `}}` —
/// is not a placeholder and stays literal text; scanning resumes right after its `{{`, so in
/// `{{secret:{{secret:A}}` the inner placeholder is still found.
pub fn find_placeholders(text: &str) -> Vec<(Range<usize>, String)> {
    let bytes = text.as_bytes();
    let prefix = PLACEHOLDER_PREFIX.as_bytes();
    let suffix = PLACEHOLDER_SUFFIX.as_bytes();
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(offset) = find(&bytes[pos..], prefix) {
        let start = pos + offset;
        let name_start = start + prefix.len();
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|&&b| is_name_byte(b))
            .count();
        let name_end = name_start + name_len;
        if (1..=MAX_NAME_LEN).contains(&name_len) && bytes[name_end..].starts_with(suffix) {
            let end = name_end + suffix.len();
            // The name is ASCII by construction, so these are character boundaries.
            found.push((start..end, text[name_start..name_end].to_string()));
            pos = end;
        } else {
            pos = start + 2;
        }
    }
    found
}

/// Replaces every placeholder with `lookup(NAME)`. Stops with `Err(NAME)` at the first name
/// `lookup` refuses (unknown, or not allowed for this destination). Substituted values are not
/// scanned again, so a value that itself contains `{{secret:...}}` cannot pull in another.
pub fn substitute(
    text: &str,
    mut lookup: impl FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, name) in find_placeholders(text) {
        let Some(value) = lookup(&name) else {
            return Err(name);
        };
        out.push_str(&text[last..range.start]);
        out.push_str(&value);
        last = range.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
