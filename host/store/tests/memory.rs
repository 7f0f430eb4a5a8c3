//! The memory full-text index: chunking, ranking, re-indexing, hostile queries, isolation.

use chitin_store::{SNIPPET_MARK_END, SNIPPET_MARK_START, Store};

const MEMORY_MD: &str = "\
# Long-term memory

Alice prefers tea over coffee. She lives in Lisbon.

## Projects

The chitin gateway runs on a small VPS in Frankfurt.
Deploys happen on Fridays.

## People

Bob is allergic to peanuts; never suggest peanut recipes.
";

const DAILY: &str = "\
# 2026-11-21

- Talked with Bob about the hiking trip to the Alps.
- Bob asked about peanuts again: peanuts, peanuts, peanuts.
";

fn sources(hits: &[chitin_store::MemoryHit]) -> Vec<&str> {
    hits.iter().map(|h| h.source.as_str()).collect()
}

#[test]
fn fts5_is_compiled_in() {
    let store = Store::open_in_memory().unwrap();
    let enabled: bool = store
        .with_connection(|c| {
            Ok(
                c.query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap();
    assert!(enabled);
}

#[test]
fn index_and_search_ranks_by_relevance() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(
        store
            .memory_index_document("main", "MEMORY.md", MEMORY_MD, 111)
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .memory_index_document("main", "memory/2026-11-21.md", DAILY, 222)
            .unwrap(),
        1
    );

    // The chunk dense in "peanuts" ranks above the one that mentions it once.
    let hits = store.memory_search("main", "peanuts", 10).unwrap();
    assert_eq!(sources(&hits), ["memory/2026-11-21.md", "MEMORY.md"]);
    assert!(hits[0].score > hits[1].score, "{hits:?}");
    assert!(hits[0].score > 0.0);
    assert!(
        hits[0]
            .snippet
            .contains(&format!("{SNIPPET_MARK_START}peanuts{SNIPPET_MARK_END}")),
        "{}",
        hits[0].snippet
    );
    assert_eq!((hits[0].start_line, hits[0].end_line), (1, 4));
    assert_eq!((hits[1].start_line, hits[1].end_line), (1, 12));

    // Case and diacritics are folded.
    let hits = store.memory_search("main", "LISBÖN", 10).unwrap();
    assert_eq!(sources(&hits), ["MEMORY.md"]);
    assert!(
        hits[0].snippet.contains("**Lisbon**"),
        "{}",
        hits[0].snippet
    );

    // Words are ORed: a chunk with any of them is found, one with more ranks first.
    let hits = store.memory_search("main", "hiking Frankfurt", 10).unwrap();
    assert_eq!(hits.len(), 2);
    let hits = store.memory_search("main", "Bob Alps", 10).unwrap();
    assert_eq!(sources(&hits)[0], "memory/2026-11-21.md");

    assert!(
        store
            .memory_search("main", "zeppelin", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.memory_search("main", "peanuts", 1).unwrap().len(), 1);
    assert!(
        store
            .memory_search("main", "peanuts", 0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn chunks_keep_their_line_numbers() {
    let store = Store::open_in_memory().unwrap();
    // 60 paragraphs of 2 lines + a blank line: 180 lines, several chunks.
    let mut text = String::new();
    for i in 1..=60 {
        text.push_str(&format!("note number {i}\nword{i} marker\n\n"));
    }
    let chunks = store
        .memory_index_document("main", "memory/long.md", &text, 1)
        .unwrap();
    assert!(chunks >= 4, "{chunks}");
    // "word37" is on line 3*36 + 2 = 110.
    let hits = store.memory_search("main", "word37", 5).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0].start_line <= 110 && 110 <= hits[0].end_line,
        "{:?}",
        hits[0]
    );
    assert!(hits[0].end_line - hits[0].start_line < 40);
    let documents = store.memory_documents("main").unwrap();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].chunk_count, chunks as u64);
}

#[test]
fn reindexing_replaces_old_chunks() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(
        store.memory_document_mtime("main", "MEMORY.md").unwrap(),
        None
    );
    store
        .memory_index_document("main", "MEMORY.md", "the password hint is walrus", 100)
        .unwrap();
    assert_eq!(
        store.memory_document_mtime("main", "MEMORY.md").unwrap(),
        Some(100)
    );
    assert_eq!(store.memory_search("main", "walrus", 10).unwrap().len(), 1);

    store
        .memory_index_document("main", "MEMORY.md", "now it is penguin", 200)
        .unwrap();
    assert!(
        store
            .memory_search("main", "walrus", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.memory_search("main", "penguin", 10).unwrap().len(), 1);
    assert_eq!(
        store.memory_document_mtime("main", "MEMORY.md").unwrap(),
        Some(200)
    );

    // A blank document indexes nothing but is remembered (so it is skipped while unchanged).
    assert_eq!(
        store
            .memory_index_document("main", "MEMORY.md", "\n\n", 300)
            .unwrap(),
        0
    );
    assert!(
        store
            .memory_search("main", "penguin", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.memory_document_mtime("main", "MEMORY.md").unwrap(),
        Some(300)
    );

    store
        .memory_index_document("main", "memory/a.md", "walrus again", 1)
        .unwrap();
    store.memory_remove_document("main", "memory/a.md").unwrap();
    store.memory_remove_document("main", "memory/a.md").unwrap();
    assert!(
        store
            .memory_search("main", "walrus", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.memory_document_mtime("main", "memory/a.md").unwrap(),
        None
    );
    assert_eq!(
        store
            .memory_documents("main")
            .unwrap()
            .iter()
            .map(|d| d.source.as_str())
            .collect::<Vec<_>>(),
        ["MEMORY.md"]
    );
    // The FTS index agrees with its content table after all that.
    store
        .with_connection(|c| {
            c.execute(
                "INSERT INTO memory_fts (memory_fts, rank) VALUES ('integrity-check', 1)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn hostile_queries_never_error() {
    let store = Store::open_in_memory().unwrap();
    store
        .memory_index_document(
            "main",
            "MEMORY.md",
            "a:b is a label. x-ray vision. NEAR the river. \"quoted\" text. OR AND NOT.",
            1,
        )
        .unwrap();
    let ten_kb: String = "lorem ipsum \"dolor\" (sit) amet* NEAR/3 -x a:b ^c {d} "
        .repeat(200)
        .chars()
        .take(10 * 1024)
        .collect();
    let one_huge_word = "z".repeat(10 * 1024);
    let queries = [
        "",
        " ",
        "\"",
        "\"\"",
        "\"unterminated",
        "*",
        "a*",
        "NEAR(",
        "NEAR(a b)",
        "NEAR",
        "a:b",
        "text:quoted",
        "-x",
        "x -ray",
        "AND",
        "OR",
        "NOT",
        "a AND",
        "OR OR OR",
        "(",
        ")",
        "((a)",
        "^",
        "^river",
        "{a b}: c",
        "+",
        "a + b",
        "col:",
        ":",
        "\0",
        "a\0b",
        "\u{301}",
        "e\u{301}",
        "🦀",
        "日本語のテキスト",
        "'; DROP TABLE memory_chunks; --",
        ten_kb.as_str(),
        one_huge_word.as_str(),
    ];
    for query in queries {
        let result = store.memory_search("main", query, 10);
        assert!(result.is_ok(), "{query:?}: {result:?}");
    }
    // Syntax characters are searched as text.
    assert_eq!(store.memory_search("main", "a:b", 10).unwrap().len(), 1);
    assert_eq!(store.memory_search("main", "NEAR(", 10).unwrap().len(), 1);
    assert_eq!(
        store.memory_search("main", "\"quoted", 10).unwrap().len(),
        1
    );
    assert_eq!(store.memory_search("main", "-ray", 10).unwrap().len(), 1);
    assert_eq!(store.memory_search("main", "OR", 10).unwrap().len(), 1);
    assert!(store.memory_search("main", "*", 10).unwrap().is_empty());
    // The table is still there.
    assert_eq!(store.memory_search("main", "river", 10).unwrap().len(), 1);
}

#[test]
fn agents_are_isolated() {
    let store = Store::open_in_memory().unwrap();
    store
        .memory_index_document("main", "MEMORY.md", "main agent secret: saffron", 1)
        .unwrap();
    store
        .memory_index_document("work", "MEMORY.md", "work agent secret: cardamom", 1)
        .unwrap();
    assert_eq!(store.memory_search("main", "saffron", 10).unwrap().len(), 1);
    assert!(
        store
            .memory_search("main", "cardamom", 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .memory_search("work", "saffron", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.memory_search("work", "secret", 10).unwrap().len(), 1);
    assert!(
        store
            .memory_search("nobody", "secret", 10)
            .unwrap()
            .is_empty()
    );
    // The same source path is a different document per agent.
    store.memory_remove_document("work", "MEMORY.md").unwrap();
    assert_eq!(store.memory_search("main", "secret", 10).unwrap().len(), 1);
    assert_eq!(
        store.memory_document_mtime("main", "MEMORY.md").unwrap(),
        Some(1)
    );
    assert!(store.memory_documents("work").unwrap().is_empty());
}

#[test]
fn bad_document_arguments_are_errors() {
    let store = Store::open_in_memory().unwrap();
    let err = store
        .memory_index_document("", "MEMORY.md", "x", 1)
        .unwrap_err();
    assert!(err.to_string().contains("agent id is empty"), "{err}");
    let err = store.memory_index_document("main", "", "x", 1).unwrap_err();
    assert!(err.to_string().contains("MEMORY.md"), "{err}");
}

#[test]
fn session_transcripts_can_be_indexed() {
    let store = Store::open_in_memory().unwrap();
    let source = "session:agent:main:telegram:bot:dm:alice";
    store
        .memory_index_document("main", source, "user: remind me about the dentist", 5)
        .unwrap();
    let hits = store.memory_search("main", "dentist", 10).unwrap();
    assert_eq!(sources(&hits), [source]);
}
