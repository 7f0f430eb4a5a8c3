//! The usage ledger and the audit log.

use chitin_store::{Store, StoreError, UsageRecord};
use serde_json::json;

fn record(provider: &str, model: &str, tokens: u64, cost: f64, at: i64) -> UsageRecord {
    UsageRecord {
        session_key: "agent:main:cli:default:dm:local".into(),
        agent_id: "main".into(),
        provider: provider.into(),
        model: model.into(),
        input_tokens: tokens,
        output_tokens: tokens / 2,
        cache_read_tokens: tokens / 4,
        cache_write_tokens: 1,
        cost_usd: cost,
        created_ms: at,
    }
}

#[test]
fn usage_totals_per_provider_and_model() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.usage_summary(None).unwrap().is_empty());
    store
        .record_usage(&record("openai", "gpt-5", 100, 0.25, 1_000))
        .unwrap();
    store
        .record_usage(&record("anthropic", "claude", 1000, 1.5, 2_000))
        .unwrap();
    store
        .record_usage(&record("anthropic", "claude", 400, 0.5, 3_000))
        .unwrap();
    store
        .record_usage(&record("anthropic", "haiku", 8, 0.0, 4_000))
        .unwrap();

    let all = store.usage_summary(None).unwrap();
    let keys: Vec<_> = all
        .iter()
        .map(|s| (s.provider.as_str(), s.model.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("anthropic", "claude"),
            ("anthropic", "haiku"),
            ("openai", "gpt-5")
        ]
    );
    let claude = &all[0];
    assert_eq!(claude.calls, 2);
    assert_eq!(claude.input_tokens, 1400);
    assert_eq!(claude.output_tokens, 700);
    assert_eq!(claude.cache_read_tokens, 350);
    assert_eq!(claude.cache_write_tokens, 2);
    assert!((claude.cost_usd - 2.0).abs() < 1e-9);
    assert_eq!(all[1].cost_usd, 0.0);

    // `since` counts records at or after it.
    let recent = store.usage_summary(Some(3_000)).unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!((recent[0].model.as_str(), recent[0].calls), ("claude", 1));
    assert_eq!(recent[0].input_tokens, 400);
    assert!(store.usage_summary(Some(i64::MAX)).unwrap().is_empty());
}

#[test]
fn bad_usage_records_are_refused() {
    let store = Store::open_in_memory().unwrap();
    for cost in [f64::NAN, f64::INFINITY, -0.01] {
        let err = store
            .record_usage(&record("p", "m", 1, cost, 0))
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
        assert!(err.to_string().contains("finite number >= 0"), "{err}");
    }
    let err = store
        .record_usage(&record("p", "m", u64::MAX, 0.0, 0))
        .unwrap_err();
    assert!(err.to_string().contains("input_tokens"), "{err}");
    assert!(store.usage_summary(None).unwrap().is_empty());
}

#[test]
fn audit_log_is_newest_first() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.audit_recent(10).unwrap().is_empty());
    store
        .audit(
            "operator",
            "config.patch",
            &json!({"path": "agents.main.model"}),
        )
        .unwrap();
    store
        .audit(
            "plugin:web-fetch",
            "egress.denied",
            &json!({"host": "10.0.0.1", "n": 3}),
        )
        .unwrap();
    store.audit("agent:main", "exec", &json!(null)).unwrap();

    let recent = store.audit_recent(10).unwrap();
    assert_eq!(
        recent
            .iter()
            .map(|a| (a.actor.as_str(), a.action.as_str()))
            .collect::<Vec<_>>(),
        [
            ("agent:main", "exec"),
            ("plugin:web-fetch", "egress.denied"),
            ("operator", "config.patch")
        ]
    );
    assert_eq!(recent[1].detail, json!({"host": "10.0.0.1", "n": 3}));
    assert_eq!(recent[0].detail, json!(null));
    assert!(recent[0].id > recent[1].id && recent[1].id > recent[2].id);
    assert!(recent.iter().all(|a| a.created_ms > 1_600_000_000_000));
    assert_eq!(store.audit_recent(2).unwrap().len(), 2);
    assert!(store.audit_recent(0).unwrap().is_empty());
    assert_eq!(store.audit_recent(usize::MAX).unwrap().len(), 3);
}
