use std::time::Duration;

use crate::{
    Budgets, HARD_MAX_FUEL, HARD_MAX_HOST_CALLS, HARD_MAX_HTTP_REQUESTS, HARD_MAX_MEMORY_MB,
    HARD_MAX_OUTPUT_KB, HARD_MAX_RESPONSE_KB, HARD_MAX_TIMEOUT_MS, Language, ManifestError,
};

const MIB: u64 = 1 << 20;

#[test]
fn language_defaults() {
    let cases = [
        (Language::Rust, 100_000_000, 64 * MIB, false),
        (Language::C, 100_000_000, 64 * MIB, false),
        (Language::Other, 100_000_000, 64 * MIB, false),
        (Language::Python, 400_000_000, 128 * MIB, true),
        (Language::Js, 2_000_000_000, 128 * MIB, true),
    ];
    for (lang, fuel, memory, warm) in cases {
        let d = lang.default_budgets();
        assert_eq!(d.fuel, fuel, "{lang}");
        assert_eq!(d.memory_bytes, memory, "{lang}");
        assert_eq!(d.timeout, Duration::from_millis(10_000));
        assert_eq!(d.max_output_bytes, MIB);
        assert_eq!(d.max_host_calls, 10_000);
        assert_eq!(d.max_http_requests, 32);
        assert_eq!(d.max_response_bytes, 4 * MIB);
        assert_eq!(lang.prefers_warm_instances(), warm, "{lang}");
        // No budgets set resolves to exactly the defaults.
        assert_eq!(Budgets::default().resolve(lang).unwrap(), d);
    }
}

#[test]
fn set_budgets_convert_units() {
    let b = Budgets {
        fuel: Some(7),
        memory_mb: Some(3),
        timeout_ms: Some(1500),
        max_output_kb: Some(2),
        max_host_calls: Some(9),
        max_http_requests: Some(4),
        max_response_kb: Some(5),
    };
    let r = b.resolve(Language::Js).unwrap();
    assert_eq!(r.fuel, 7);
    assert_eq!(r.memory_bytes, 3 * MIB);
    assert_eq!(r.timeout, Duration::from_millis(1500));
    assert_eq!(r.max_output_bytes, 2048);
    assert_eq!(r.max_host_calls, 9);
    assert_eq!(r.max_http_requests, 4);
    assert_eq!(r.max_response_bytes, 5 * 1024);
}

#[test]
fn hard_maxima_are_allowed_and_not_exceeded() {
    let at_max = Budgets {
        fuel: Some(HARD_MAX_FUEL),
        memory_mb: Some(HARD_MAX_MEMORY_MB),
        timeout_ms: Some(HARD_MAX_TIMEOUT_MS),
        max_output_kb: Some(HARD_MAX_OUTPUT_KB),
        max_host_calls: Some(HARD_MAX_HOST_CALLS),
        max_http_requests: Some(HARD_MAX_HTTP_REQUESTS),
        max_response_kb: Some(HARD_MAX_RESPONSE_KB),
    };
    let r = at_max.resolve(Language::Rust).unwrap();
    assert_eq!(r.fuel, 50_000_000_000);
    assert_eq!(r.memory_bytes, 1024 * MIB);
    assert_eq!(r.timeout, Duration::from_secs(300));
    assert_eq!(r.max_output_bytes, 64 * MIB);
    assert_eq!(r.max_host_calls, 1_000_000);
    assert_eq!(r.max_http_requests, 1000);
    assert_eq!(r.max_response_bytes, 256 * MIB);

    type Set = fn(&mut Budgets, bool);
    // (field, set to zero or to max + 1, text naming the limit)
    let fields: [(&str, Set, &str); 7] = [
        (
            "fuel",
            |b, z| b.fuel = Some(if z { 0 } else { HARD_MAX_FUEL + 1 }),
            "50000000000",
        ),
        (
            "memory_mb",
            |b, z| b.memory_mb = Some(if z { 0 } else { HARD_MAX_MEMORY_MB + 1 }),
            "1024 MiB",
        ),
        (
            "timeout_ms",
            |b, z| b.timeout_ms = Some(if z { 0 } else { HARD_MAX_TIMEOUT_MS + 1 }),
            "300000 ms",
        ),
        (
            "max_output_kb",
            |b, z| b.max_output_kb = Some(if z { 0 } else { HARD_MAX_OUTPUT_KB + 1 }),
            "65536 KiB",
        ),
        (
            "max_host_calls",
            |b, z| b.max_host_calls = Some(if z { 0 } else { HARD_MAX_HOST_CALLS + 1 }),
            "1000000",
        ),
        (
            "max_http_requests",
            |b, z| b.max_http_requests = Some(if z { 0 } else { HARD_MAX_HTTP_REQUESTS + 1 }),
            "1000",
        ),
        (
            "max_response_kb",
            |b, z| b.max_response_kb = Some(if z { 0 } else { HARD_MAX_RESPONSE_KB + 1 }),
            "262144 KiB",
        ),
    ];
    for (field, set, limit) in fields {
        for zero in [true, false] {
            let mut b = Budgets::default();
            set(&mut b, zero);
            let err = b.resolve(Language::Rust).expect_err(field);
            assert!(
                matches!(err, ManifestError::Budget { field: f, .. } if f == field),
                "{err}"
            );
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("budgets.{field} = ")),
                "{message}"
            );
            if zero {
                assert!(message.contains("zero"), "{message}");
            } else {
                assert!(
                    message.contains(&format!("hard maximum is {limit}")),
                    "{message}"
                );
            }
        }
    }
}

#[test]
fn overrides_replace_only_what_they_set() {
    let manifest = Budgets {
        fuel: Some(1),
        timeout_ms: Some(2),
        ..Budgets::default()
    };
    let grant = Budgets {
        timeout_ms: Some(3),
        memory_mb: Some(4),
        ..Budgets::default()
    };
    let merged = manifest.overridden_by(&grant);
    assert_eq!(merged.fuel, Some(1));
    assert_eq!(merged.timeout_ms, Some(3));
    assert_eq!(merged.memory_mb, Some(4));
    assert_eq!(merged.max_host_calls, None);
}
