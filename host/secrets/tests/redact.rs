//! The redactor and the placeholder syntax.

use std::borrow::Cow;

use chitin_secrets::{Redactor, SecretValue, find_placeholders, substitute};

fn redactor(pairs: &[(&str, &str)]) -> Redactor {
    Redactor::new(
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), SecretValue::new(*v))),
    )
}

#[test]
fn redacts_every_occurrence() {
    let r = redactor(&[("TOKEN", "sk-abcdef123"), ("OTHER", "hunter22")]);
    assert!(!r.is_empty());
    let out = r.redact("auth sk-abcdef123 and sk-abcdef123, pw=hunter22.");
    assert_eq!(
        out,
        "auth [REDACTED:TOKEN] and [REDACTED:TOKEN], pw=[REDACTED:OTHER]."
    );
}

#[test]
fn nothing_found_borrows() {
    let r = redactor(&[("TOKEN", "sk-abcdef123")]);
    assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    assert!(matches!(r.redact_bytes(b"nothing here"), Cow::Borrowed(_)));
    let empty = Redactor::default();
    assert!(empty.is_empty());
    assert!(matches!(empty.redact("sk-abcdef123"), Cow::Borrowed(_)));
    assert_eq!(empty.contains_secret(b"anything"), None);
}

#[test]
fn longest_value_wins_when_one_contains_another() {
    let r = redactor(&[("SHORT", "abcdef"), ("LONG", "abcdef-ghijkl")]);
    assert_eq!(
        r.redact("x abcdef-ghijkl y abcdef z"),
        "x [REDACTED:LONG] y [REDACTED:SHORT] z"
    );
    // Contained in the middle, not only as a prefix.
    let r = redactor(&[("INNER", "secret"), ("OUTER", "my-secret-key")]);
    assert_eq!(r.redact("[my-secret-key]"), "[[REDACTED:OUTER]]");
}

#[test]
fn overlapping_values_leave_no_fragment() {
    // "abcdef123" and "123xyz789" overlap in "abcdef123xyz789": replacing only the first
    // would leave "xyz789", part of the second secret, in the clear.
    let r = redactor(&[("A", "abcdef123"), ("B", "123xyz789000")]);
    let out = r.redact("<abcdef123xyz789000>");
    assert_eq!(out, "<[REDACTED:B]>");
    assert!(!out.contains("xyz"));
    // Touching but not overlapping: two markers.
    assert_eq!(
        r.redact("abcdef123123xyz789000"),
        "[REDACTED:A][REDACTED:B]"
    );
}

#[test]
fn short_values_are_ignored() {
    let r = redactor(&[("PIN", "12345"), ("EMPTY", ""), ("TOKEN", "123456")]);
    assert_eq!(
        r.redact("pin 12345 token 123456"),
        "pin 12345 token [REDACTED:TOKEN]"
    );
    assert!(redactor(&[("PIN", "abc")]).is_empty());
    assert_eq!(chitin_secrets::MIN_REDACTED_LEN, 6);
}

#[test]
fn the_same_value_under_two_names_is_named_consistently() {
    let r = redactor(&[("ZETA", "shared-value"), ("ALPHA", "shared-value")]);
    assert_eq!(r.redact("shared-value"), "[REDACTED:ALPHA]");
    let printed = format!("{r:?}");
    assert!(!printed.contains("shared-value"), "{printed}");
}

#[test]
fn redacts_bytes_including_non_utf8() {
    let r = redactor(&[("TOKEN", "sk-abcdef123")]);
    let mut body = vec![0xff, 0xfe, 0x00];
    body.extend_from_slice(b"sk-abcdef123");
    body.extend_from_slice(&[0xc3, 0x28, b'!']);
    let out = r.redact_bytes(&body);
    let mut expected = vec![0xff, 0xfe, 0x00];
    expected.extend_from_slice(b"[REDACTED:TOKEN]");
    expected.extend_from_slice(&[0xc3, 0x28, b'!']);
    assert_eq!(out.as_ref(), expected.as_slice());
    assert_eq!(r.contains_secret(&body), Some("TOKEN"));
}

#[test]
fn redacts_around_multibyte_text() {
    let r = redactor(&[("TOKEN", "пароль-123")]);
    assert_eq!(r.redact("ключ: пароль-123 ✓"), "ключ: [REDACTED:TOKEN] ✓");
}

#[test]
fn contains_secret_names_the_first_found() {
    let r = redactor(&[("FIRST", "aaaaaa-1"), ("SECOND", "bbbbbb-2")]);
    assert_eq!(r.contains_secret(b"x bbbbbb-2 y aaaaaa-1"), Some("SECOND"));
    assert_eq!(r.contains_secret(b"aaaaaa-"), None);
}

#[test]
fn finds_multiple_and_adjacent_placeholders() {
    let text = "Bearer {{secret:API_KEY}}&u={{secret:user.name}}{{secret:p-w_2}}";
    let found = find_placeholders(text);
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["API_KEY", "user.name", "p-w_2"]);
    for (range, name) in &found {
        assert_eq!(&text[range.clone()], format!("{{{{secret:{name}}}}}"));
    }
    assert_eq!(found[1].0.end, found[2].0.start, "adjacent");
}

#[test]
fn malformed_placeholders_are_literal_text() {
    for text in [
        "{{secret:}}",
        "{{secret:NAME",
        "{{secret:NAME}",
        "{{secret:NA ME}}",
        "{{secret:NAME/x}}",
        "{{ secret:NAME }}",
        "{secret:NAME}}",
        "{{SECRET:NAME}}",
    ] {
        assert!(find_placeholders(text).is_empty(), "{text:?}");
        assert_eq!(substitute(text, |_| None).unwrap(), text);
    }
    let too_long = format!("{{{{secret:{}}}}}", "x".repeat(129));
    assert!(find_placeholders(&too_long).is_empty());
    let longest = format!("{{{{secret:{}}}}}", "x".repeat(128));
    assert_eq!(find_placeholders(&longest).len(), 1);
    // A malformed opener does not hide a good placeholder right after it.
    let found = find_placeholders("{{secret:{{secret:A}} {{secret:}}{{secret:B}}");
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["A", "B"]);
}

#[test]
fn substitute_replaces_and_refuses() {
    let lookup = |name: &str| match name {
        "A" => Some("alpha".to_string()),
        "B" => Some("{{secret:A}}".to_string()),
        _ => None,
    };
    assert_eq!(
        substitute("x={{secret:A}}{{secret:A}};é", lookup).unwrap(),
        "x=alphaalpha;é"
    );
    // A value that looks like a placeholder is not expanded again.
    assert_eq!(substitute("{{secret:B}}", lookup).unwrap(), "{{secret:A}}");
    assert_eq!(
        substitute("{{secret:A}} {{secret:NOPE}} {{secret:ALSO_NOPE}}", lookup),
        Err("NOPE".to_string())
    );
    assert_eq!(
        substitute("no placeholders", lookup).unwrap(),
        "no placeholders"
    );
}
