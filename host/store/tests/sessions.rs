//! Sessions and transcripts: append order and seq, isolation, compaction, history, reset.

use chitin_store::{MessageRole, NewMessage, SCHEMA_VERSION, Store, StoreError, ToolCallRecord};

const KEY: &str = "agent:main:cli:default:dm:local";

fn store_with_session(key: &str) -> Store {
    let store = Store::open_in_memory().unwrap();
    store.session_get_or_create(key, "main").unwrap();
    store
}

fn contents(rows: &[chitin_store::MessageRow]) -> Vec<&str> {
    rows.iter().map(|m| m.content.as_str()).collect()
}

#[test]
fn get_or_create_is_idempotent() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.session_get(KEY).unwrap(), None);
    let created = store.session_get_or_create(KEY, "main").unwrap();
    assert_eq!(created.key, KEY);
    assert_eq!(created.agent_id, "main");
    assert_eq!(created.message_count, 0);
    assert_eq!(created.summary, None);
    assert_eq!(created.title, None);
    assert_eq!(created.created_ms, created.updated_ms);
    assert!(created.created_ms > 1_600_000_000_000);
    let again = store.session_get_or_create(KEY, "main").unwrap();
    assert_eq!(again, created);
    assert_eq!(store.session_get(KEY).unwrap(), Some(created));
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_session_key_belongs_to_one_agent() {
    let store = store_with_session(KEY);
    let err = store.session_get_or_create(KEY, "other").unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("belongs to agent `main`"), "{err}");
    let err = store.session_get_or_create("", "main").unwrap_err();
    assert!(err.to_string().contains("session key is empty"), "{err}");
    let err = store.session_get_or_create("k", "").unwrap_err();
    assert!(err.to_string().contains("agent id is empty"), "{err}");
    let err = store
        .session_get_or_create(&"k".repeat(5000), "main")
        .unwrap_err();
    assert!(err.to_string().contains("shorter"), "{err}");
}

#[test]
fn append_assigns_seq_in_order_and_round_trips_every_field() {
    let store = store_with_session(KEY);
    let mut assistant = NewMessage::assistant("let me look");
    assistant.tool_calls = vec![
        ToolCallRecord {
            id: "call_1".into(),
            name: "web_fetch".into(),
            arguments: r#"{"url":"https://example.com"}"#.into(),
        },
        ToolCallRecord {
            id: "call_2".into(),
            name: "memory_search".into(),
            arguments: "not json at all {".into(),
        },
    ];
    assistant.provider = Some("anthropic".into());
    assistant.model = Some("claude-sonnet".into());
    assistant.provider_data = Some(r#"{"signature":"abc"}"#.into());
    let batch = vec![
        NewMessage::system("you are helpful"),
        NewMessage::user("hi — ünïcödé ✓"),
        assistant.clone(),
        NewMessage::tool_result("call_1", "web_fetch", "404", true),
    ];
    let ids = store.append_messages(KEY, &batch).unwrap();
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let more = store
        .append_messages(KEY, &[NewMessage::assistant("done")])
        .unwrap();
    assert!(more[0] > ids[3]);

    let transcript = store.transcript(KEY).unwrap();
    assert_eq!(
        transcript.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        transcript.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[0], ids[1], ids[2], ids[3], more[0]]
    );
    assert_eq!(
        transcript.iter().map(|m| m.role).collect::<Vec<_>>(),
        [
            MessageRole::System,
            MessageRole::User,
            MessageRole::Assistant,
            MessageRole::Tool,
            MessageRole::Assistant
        ]
    );
    let a = &transcript[2];
    assert_eq!(a.session_key, KEY);
    assert_eq!(a.content, "let me look");
    assert_eq!(a.tool_calls, assistant.tool_calls);
    assert_eq!(a.provider.as_deref(), Some("anthropic"));
    assert_eq!(a.model.as_deref(), Some("claude-sonnet"));
    assert_eq!(a.provider_data.as_deref(), Some(r#"{"signature":"abc"}"#));
    assert!(!a.is_error && !a.compacted);
    let t = &transcript[3];
    assert_eq!(t.tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(t.tool_name.as_deref(), Some("web_fetch"));
    assert!(t.is_error);
    assert!(t.tool_calls.is_empty());
    assert_eq!(transcript[1].content, "hi — ünïcödé ✓");

    let session = store.session_get(KEY).unwrap().unwrap();
    assert_eq!(session.message_count, 5);
    assert!(session.updated_ms >= session.created_ms);

    // An empty batch appends nothing.
    assert_eq!(store.append_messages(KEY, &[]).unwrap(), Vec::<i64>::new());
    assert_eq!(store.transcript(KEY).unwrap().len(), 5);
}

#[test]
fn appending_to_an_unknown_session_is_an_error() {
    let store = Store::open_in_memory().unwrap();
    let err = store
        .append_messages("agent:main:nope", &[NewMessage::user("x")])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::SessionNotFound { key } if key == "agent:main:nope"),
        "{err:?}"
    );
    assert!(err.to_string().contains("session_get_or_create"), "{err}");
    assert!(matches!(
        store.append_messages("agent:main:nope", &[]).unwrap_err(),
        StoreError::SessionNotFound { .. }
    ));
    assert!(matches!(
        store.compact("agent:main:nope", 1, "s").unwrap_err(),
        StoreError::SessionNotFound { .. }
    ));
    assert!(matches!(
        store.session_reset("agent:main:nope").unwrap_err(),
        StoreError::SessionNotFound { .. }
    ));
    assert!(store.transcript("agent:main:nope").unwrap().is_empty());
    assert!(
        store
            .history("agent:main:nope", 10, None)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn sessions_are_isolated() {
    let store = Store::open_in_memory().unwrap();
    let a = "agent:main:telegram:bot:dm:alice";
    let b = "agent:main:telegram:bot:dm:bob";
    store.session_get_or_create(a, "main").unwrap();
    store.session_get_or_create(b, "main").unwrap();
    // Interleaved appends: each session numbers its own messages.
    for i in 0..3 {
        store
            .append_messages(a, &[NewMessage::user(format!("a{i}"))])
            .unwrap();
        store
            .append_messages(b, &[NewMessage::user(format!("b{i}"))])
            .unwrap();
    }
    let ta = store.transcript(a).unwrap();
    let tb = store.transcript(b).unwrap();
    assert_eq!(contents(&ta), ["a0", "a1", "a2"]);
    assert_eq!(contents(&tb), ["b0", "b1", "b2"]);
    assert_eq!(ta.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(tb.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3]);

    store.compact(a, 2, "a summary").unwrap();
    assert_eq!(store.session_reset(b).unwrap(), 3);
    assert_eq!(contents(&store.transcript(a).unwrap()), ["a2"]);
    assert!(store.transcript(b).unwrap().is_empty());
    assert_eq!(store.session_get(b).unwrap().unwrap().summary, None);
    assert_eq!(
        store.session_get(a).unwrap().unwrap().summary.as_deref(),
        Some("a summary")
    );
}

#[test]
fn list_is_most_recently_updated_first_and_filters_by_agent() {
    let store = Store::open_in_memory().unwrap();
    store
        .session_get_or_create("agent:main:s1", "main")
        .unwrap();
    store
        .session_get_or_create("agent:main:s2", "main")
        .unwrap();
    store
        .session_get_or_create("agent:work:s3", "work")
        .unwrap();
    let keys = |agent: Option<&str>, limit: usize| -> Vec<String> {
        store
            .sessions_list(agent, limit)
            .unwrap()
            .into_iter()
            .map(|s| s.key)
            .collect()
    };
    assert_eq!(
        keys(None, 10),
        ["agent:work:s3", "agent:main:s2", "agent:main:s1"]
    );
    // Activity moves a session to the front, even within the same millisecond.
    store
        .append_messages("agent:main:s1", &[NewMessage::user("hi")])
        .unwrap();
    assert_eq!(
        keys(None, 10),
        ["agent:main:s1", "agent:work:s3", "agent:main:s2"]
    );
    assert_eq!(keys(Some("main"), 10), ["agent:main:s1", "agent:main:s2"]);
    assert_eq!(keys(Some("work"), 10), ["agent:work:s3"]);
    assert!(keys(Some("nobody"), 10).is_empty());
    assert_eq!(keys(None, 1), ["agent:main:s1"]);
    assert!(keys(None, 0).is_empty());
    store
        .session_set_title("agent:main:s2", Some("Trip planning"))
        .unwrap();
    let listed = store.sessions_list(None, usize::MAX).unwrap();
    assert_eq!(listed[0].key, "agent:main:s2");
    assert_eq!(listed[0].title.as_deref(), Some("Trip planning"));
    assert_eq!(listed[1].message_count, 1);
    store.session_set_title("agent:main:s2", None).unwrap();
    assert_eq!(
        store.session_get("agent:main:s2").unwrap().unwrap().title,
        None
    );
    assert!(matches!(
        store.session_set_title("agent:main:none", Some("x")),
        Err(StoreError::SessionNotFound { .. })
    ));
}

#[test]
fn compaction_hides_old_messages_but_history_keeps_them() {
    let store = store_with_session(KEY);
    let batch: Vec<_> = (1..=10)
        .map(|i| NewMessage::user(format!("m{i}")))
        .collect();
    store.append_messages(KEY, &batch).unwrap();

    store.compact(KEY, 6, "first six, summarised").unwrap();
    let live = store.transcript(KEY).unwrap();
    assert_eq!(contents(&live), ["m7", "m8", "m9", "m10"]);
    assert!(live.iter().all(|m| !m.compacted));
    let session = store.session_get(KEY).unwrap().unwrap();
    assert_eq!(session.summary.as_deref(), Some("first six, summarised"));
    assert_eq!(session.message_count, 10);

    // History has everything, compacted flags included, in seq order.
    let all = store.history(KEY, 100, None).unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(
        all.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        all.iter().map(|m| m.compacted).collect::<Vec<_>>(),
        [
            true, true, true, true, true, true, false, false, false, false
        ]
    );

    // New messages continue the numbering after compaction.
    store
        .append_messages(KEY, &[NewMessage::user("m11")])
        .unwrap();
    assert_eq!(store.transcript(KEY).unwrap().last().unwrap().seq, 11);

    // A second compaction replaces the summary; both are kept in order.
    store.compact(KEY, 9, "first nine").unwrap();
    assert_eq!(contents(&store.transcript(KEY).unwrap()), ["m10", "m11"]);
    assert_eq!(
        store.session_get(KEY).unwrap().unwrap().summary.as_deref(),
        Some("first nine")
    );
    let compactions = store.session_compactions(KEY).unwrap();
    assert_eq!(
        compactions
            .iter()
            .map(|c| (c.upto_seq, c.summary.as_str()))
            .collect::<Vec<_>>(),
        [(6, "first six, summarised"), (9, "first nine")]
    );

    // Out-of-range seqs are refused and change nothing.
    for bad in [0, -1, 12, i64::MAX] {
        let err = store.compact(KEY, bad, "nope").unwrap_err();
        assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");
        assert!(err.to_string().contains("between 1 and 11"), "{err}");
    }
    assert_eq!(
        store.session_get(KEY).unwrap().unwrap().summary.as_deref(),
        Some("first nine")
    );
    // Everything can be compacted.
    store.compact(KEY, 11, "all of it").unwrap();
    assert!(store.transcript(KEY).unwrap().is_empty());
}

#[test]
fn history_pages_backwards() {
    let store = store_with_session(KEY);
    let batch: Vec<_> = (1..=25)
        .map(|i| NewMessage::user(format!("m{i}")))
        .collect();
    store.append_messages(KEY, &batch).unwrap();
    store.compact(KEY, 20, "s").unwrap();
    let seqs = |limit, before| -> Vec<i64> {
        store
            .history(KEY, limit, before)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect()
    };
    assert_eq!(seqs(10, None), (16..=25).collect::<Vec<_>>());
    assert_eq!(seqs(10, Some(16)), (6..=15).collect::<Vec<_>>());
    assert_eq!(seqs(10, Some(6)), (1..=5).collect::<Vec<_>>());
    assert!(seqs(10, Some(1)).is_empty());
    assert!(seqs(0, None).is_empty());
    assert_eq!(seqs(usize::MAX, None).len(), 25);
    assert_eq!(seqs(3, Some(i64::MIN)), Vec::<i64>::new());
}

#[test]
fn reset_clears_messages_and_summary_and_restarts_numbering() {
    let store = store_with_session(KEY);
    store.session_set_title(KEY, Some("kept")).unwrap();
    let batch: Vec<_> = (1..=4).map(|i| NewMessage::user(format!("m{i}"))).collect();
    let old_ids = store.append_messages(KEY, &batch).unwrap();
    store.compact(KEY, 2, "summary").unwrap();
    let before = store.session_get(KEY).unwrap().unwrap();

    assert_eq!(store.session_reset(KEY).unwrap(), 4);
    let after = store.session_get(KEY).unwrap().unwrap();
    assert_eq!(after.message_count, 0);
    assert_eq!(after.summary, None);
    assert_eq!(after.title.as_deref(), Some("kept"));
    assert_eq!(after.created_ms, before.created_ms);
    assert!(after.updated_ms >= before.updated_ms);
    assert!(store.transcript(KEY).unwrap().is_empty());
    assert!(store.history(KEY, 100, None).unwrap().is_empty());
    assert!(store.session_compactions(KEY).unwrap().is_empty());
    // A reset moves the session to the front of the list.
    store
        .session_get_or_create("agent:main:other", "main")
        .unwrap();
    store.session_reset(KEY).unwrap();
    assert_eq!(store.sessions_list(None, 1).unwrap()[0].key, KEY);

    // Resetting again removes nothing; numbering restarts at 1 and ids are never reused.
    assert_eq!(store.session_reset(KEY).unwrap(), 0);
    let new_ids = store
        .append_messages(KEY, &[NewMessage::user("fresh")])
        .unwrap();
    assert!(new_ids[0] > *old_ids.iter().max().unwrap());
    let t = store.transcript(KEY).unwrap();
    assert_eq!((t[0].seq, t[0].content.as_str()), (1, "fresh"));
}

#[test]
fn delete_removes_the_session_and_its_messages() {
    let store = store_with_session(KEY);
    store
        .append_messages(KEY, &[NewMessage::user("x")])
        .unwrap();
    store.compact(KEY, 1, "s").unwrap();
    assert!(store.session_delete(KEY).unwrap());
    assert!(!store.session_delete(KEY).unwrap());
    assert_eq!(store.session_get(KEY).unwrap(), None);
    assert!(store.history(KEY, 10, None).unwrap().is_empty());
    assert!(store.session_compactions(KEY).unwrap().is_empty());
    // The key can be used again, from scratch.
    store.session_get_or_create(KEY, "other-agent").unwrap();
    store
        .append_messages(KEY, &[NewMessage::user("y")])
        .unwrap();
    assert_eq!(store.transcript(KEY).unwrap()[0].seq, 1);
}

#[test]
fn a_batch_is_all_or_nothing() {
    let store = store_with_session(KEY);
    store
        .append_messages(KEY, &[NewMessage::user("kept")])
        .unwrap();
    // Make the second insert of the batch fail: a trigger rejects one content value.
    store
        .with_connection(|c| {
            c.execute_batch(
                "CREATE TEMP TRIGGER reject BEFORE INSERT ON messages \
                 WHEN NEW.content = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
            )?;
            Ok(())
        })
        .unwrap();
    let err = store
        .append_messages(
            KEY,
            &[NewMessage::user("first"), NewMessage::user("poison")],
        )
        .unwrap_err();
    assert!(err.to_string().contains("poisoned"), "{err}");
    assert_eq!(contents(&store.transcript(KEY).unwrap()), ["kept"]);
    assert_eq!(store.session_get(KEY).unwrap().unwrap().message_count, 1);
}

#[test]
fn roles_parse_and_print() {
    for role in [
        MessageRole::System,
        MessageRole::User,
        MessageRole::Assistant,
        MessageRole::Tool,
    ] {
        assert_eq!(role.as_str().parse::<MessageRole>().unwrap(), role);
        assert_eq!(role.to_string(), role.as_str());
    }
    let err = "robot".parse::<MessageRole>().unwrap_err();
    assert!(
        err.to_string().contains("system, user, assistant, tool"),
        "{err}"
    );
}

#[test]
fn corrupt_rows_are_errors_not_panics() {
    let store = store_with_session(KEY);
    store
        .append_messages(KEY, &[NewMessage::assistant("x")])
        .unwrap();
    store
        .with_connection(|c| {
            c.execute("UPDATE messages SET tool_calls = '{broken'", [])?;
            Ok(())
        })
        .unwrap();
    let err = store.transcript(KEY).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("unreadable tool calls"), "{err}");
}

#[test]
fn transcripts_persist_across_reopen() {
    let dir = std::env::temp_dir().join(format!(
        "chitin-store-sessions-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let path = dir.join("chitin.db");
    {
        let store = Store::open(&path).unwrap();
        store.session_get_or_create(KEY, "main").unwrap();
        store
            .append_messages(KEY, &[NewMessage::user("a"), NewMessage::assistant("b")])
            .unwrap();
        store.compact(KEY, 1, "sum").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(contents(&store.transcript(KEY).unwrap()), ["b"]);
    assert_eq!(
        store.session_get(KEY).unwrap().unwrap().summary.as_deref(),
        Some("sum")
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
