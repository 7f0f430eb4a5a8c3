mod common;

use std::fs;

use chitin_workspace::{
    BOOTSTRAP_FILES, ContextCaps, Workspace, WorkspaceError, truncation_marker,
};
use common::{TempDir, write};

#[test]
fn ensure_seeds_missing_files_and_never_overwrites() {
    let tmp = TempDir::new("ensure");
    let ws = Workspace::new(tmp.path().join("workspace-main"));
    assert_eq!(ws.root(), tmp.path().join("workspace-main"));
    write(&ws.root().join("SOUL.md"), "my own soul");
    ws.ensure().unwrap();
    for name in BOOTSTRAP_FILES {
        let text = fs::read_to_string(ws.root().join(name)).unwrap();
        assert!(!text.trim().is_empty(), "{name} is empty");
    }
    assert_eq!(
        fs::read_to_string(ws.root().join("SOUL.md")).unwrap(),
        "my own soul"
    );
    assert!(ws.root().join("memory").is_dir());

    // A second run leaves edited files alone.
    write(&ws.root().join("AGENTS.md"), "edited rules");
    ws.ensure().unwrap();
    assert_eq!(
        fs::read_to_string(ws.root().join("AGENTS.md")).unwrap(),
        "edited rules"
    );
    assert_eq!(
        fs::read_to_string(ws.root().join("SOUL.md")).unwrap(),
        "my own soul"
    );
}

#[test]
fn context_files_in_order_only_existing() {
    let tmp = TempDir::new("ctx");
    let ws = Workspace::new(tmp.path());
    write(&ws.root().join("MEMORY.md"), "memory");
    write(&ws.root().join("AGENTS.md"), "rules");
    write(&ws.root().join("NOTES.md"), "not a bootstrap file");
    let files = ws.context_files(&ContextCaps::default()).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["AGENTS.md", "MEMORY.md"]);
    assert_eq!(files[0].content, "rules");
    assert!(!files[0].truncated);

    // A missing workspace has no context files.
    let none = Workspace::new(tmp.path().join("missing"));
    assert!(
        none.context_files(&ContextCaps::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn context_files_are_capped_per_file_and_in_total() {
    let tmp = TempDir::new("caps");
    let ws = Workspace::new(tmp.path());
    write(&ws.root().join("AGENTS.md"), &"a".repeat(25_000));
    write(&ws.root().join("SOUL.md"), &"s".repeat(20_000));
    write(&ws.root().join("USER.md"), &"ü".repeat(15_000));
    write(&ws.root().join("IDENTITY.md"), "id");
    write(&ws.root().join("MEMORY.md"), "mem");

    let files = ws.context_files(&ContextCaps::default()).unwrap();
    assert_eq!(files.len(), 5);
    // 25k → 20k with a marker saying 5k more.
    assert!(files[0].truncated);
    assert!(files[0].content.starts_with(&"a".repeat(20_000)));
    assert!(files[0].content.ends_with(&truncation_marker(5_000)));
    assert_eq!(
        truncation_marker(5_000),
        "[truncated: 5000 more characters; read the file for the rest]"
    );
    // Exactly at the cap: untouched.
    assert!(!files[1].truncated);
    assert_eq!(files[1].content.chars().count(), 20_000);
    // 40k used; 20k left of 60k: USER.md (15k multi-byte chars) fits.
    assert!(!files[2].truncated);
    // 5k left: IDENTITY.md and MEMORY.md fit.
    assert_eq!(files[3].content, "id");
    assert_eq!(files[4].content, "mem");

    let small = ContextCaps {
        per_file: 10,
        total: 12,
    };
    let files = ws.context_files(&small).unwrap();
    assert_eq!(
        files[0].content,
        format!("{}\n{}", "a".repeat(10), truncation_marker(24_990))
    );
    assert_eq!(
        files[1].content,
        format!("ss\n{}", truncation_marker(19_998))
    );
    // Budget exhausted: later files are listed with only the marker.
    assert!(files[2].truncated);
    assert_eq!(files[2].content, truncation_marker(15_000));
    assert_eq!(files[3].content, truncation_marker(2));
    assert!(files.iter().all(|f| f.truncated));
}

#[test]
fn daily_notes_append_and_recent() {
    let tmp = TempDir::new("daily");
    let ws = Workspace::new(tmp.path().join("ws"));
    // Appending creates the workspace's memory directory on its own.
    let rel = ws
        .append_daily_note((2026, 3, 1), "09:05", "  Bought milk.  ")
        .unwrap();
    assert_eq!(rel, "memory/2026-03-01.md");
    ws.append_daily_note((2026, 3, 1), "18:30", "Call Sam\nabout the boiler")
        .unwrap();
    let text = fs::read_to_string(ws.root().join(&rel)).unwrap();
    assert_eq!(
        text,
        "# 2026-03-01\n\n## 09:05\nBought milk.\n\n## 18:30\nCall Sam\nabout the boiler\n"
    );

    // A note edited by hand without a final newline still gets a clean entry.
    write(&ws.root().join("memory/2026-02-28.md"), "hand written");
    ws.append_daily_note((2026, 2, 28), "23:59", "late")
        .unwrap();
    let text = fs::read_to_string(ws.root().join("memory/2026-02-28.md")).unwrap();
    assert_eq!(text, "hand written\n\n## 23:59\nlate\n");

    // Today is 2026-03-01: yesterday crosses the month (2026 is no leap year).
    let notes = ws.recent_daily_notes((2026, 3, 1)).unwrap();
    let names: Vec<&str> = notes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["memory/2026-02-28.md", "memory/2026-03-01.md"]);
    assert!(notes[1].content.contains("Call Sam"));
    // Only today exists.
    let notes = ws.recent_daily_notes((2026, 3, 2)).unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].name, "memory/2026-03-01.md");
    // Across a year boundary, nothing there.
    assert!(ws.recent_daily_notes((2027, 1, 1)).unwrap().is_empty());

    assert_eq!(
        Workspace::daily_note_path((2024, 2, 29)).unwrap(),
        "memory/2024-02-29.md"
    );
}

#[test]
fn daily_notes_reject_bad_input() {
    let tmp = TempDir::new("daily-bad");
    let ws = Workspace::new(tmp.path());
    assert!(matches!(
        ws.append_daily_note((2026, 2, 30), "10:00", "x"),
        Err(WorkspaceError::InvalidDate { .. })
    ));
    assert!(matches!(
        ws.append_daily_note((2026, 0, 1), "10:00", "x"),
        Err(WorkspaceError::InvalidDate { .. })
    ));
    assert!(matches!(
        ws.append_daily_note((2026, 1, 1), "25:00", "x"),
        Err(WorkspaceError::InvalidTime(_))
    ));
    assert!(matches!(
        ws.append_daily_note((2026, 1, 1), "9:00", "x"),
        Err(WorkspaceError::InvalidTime(_))
    ));
    assert!(matches!(
        ws.append_daily_note((2026, 1, 1), "09:00", " \n "),
        Err(WorkspaceError::EmptyNote)
    ));
    let huge = "x".repeat(chitin_workspace::MAX_NOTE_BYTES + 1);
    assert!(matches!(
        ws.append_daily_note((2026, 1, 1), "09:00", &huge),
        Err(WorkspaceError::NoteTooLarge { .. })
    ));
    assert!(matches!(
        ws.recent_daily_notes((2026, 13, 1)),
        Err(WorkspaceError::InvalidDate { .. })
    ));
    assert!(!ws.root().join("memory/2026-01-01.md").exists());
}

#[test]
fn read_relative_with_line_ranges() {
    let tmp = TempDir::new("read");
    let ws = Workspace::new(tmp.path());
    write(&ws.root().join("memory/notes.md"), "one\ntwo\nthree\nfour");
    assert_eq!(
        ws.read_relative("memory/notes.md", None, None).unwrap(),
        "one\ntwo\nthree\nfour"
    );
    assert_eq!(
        ws.read_relative("memory/notes.md", Some(2), Some(2))
            .unwrap(),
        "two\nthree\n"
    );
    assert_eq!(
        ws.read_relative("./memory/notes.md", Some(4), None)
            .unwrap(),
        "four"
    );
    assert_eq!(
        ws.read_relative("memory/notes.md", Some(0), Some(1))
            .unwrap(),
        "one\n"
    );
    assert_eq!(
        ws.read_relative("memory/notes.md", Some(99), Some(5))
            .unwrap(),
        ""
    );
    assert_eq!(
        ws.read_relative("memory/notes.md", None, Some(0)).unwrap(),
        ""
    );
    assert!(matches!(
        ws.read_relative("memory/none.md", None, None),
        Err(WorkspaceError::NotFound(_))
    ));
    assert!(matches!(
        ws.read_relative("memory", None, None),
        Err(WorkspaceError::NotAFile(_))
    ));
    assert!(matches!(
        ws.read_relative("", None, None),
        Err(WorkspaceError::InvalidPath(..))
    ));
    assert!(matches!(
        ws.read_relative("a\0b", None, None),
        Err(WorkspaceError::InvalidPath(..))
    ));
}

#[test]
fn read_relative_refuses_escapes() {
    let tmp = TempDir::new("escape");
    let ws = Workspace::new(tmp.path().join("ws"));
    ws.ensure().unwrap();
    let secret = tmp.path().join("secret.txt");
    write(&secret, "top secret");

    for rel in ["../secret.txt", "memory/../../secret.txt", "memory/.."] {
        let err = ws.read_relative(rel, None, None).unwrap_err();
        assert!(
            matches!(err, WorkspaceError::InvalidPath(..)),
            "{rel}: {err}"
        );
    }
    let abs = secret.to_string_lossy().into_owned();
    assert!(matches!(
        ws.read_relative(&abs, None, None),
        Err(WorkspaceError::InvalidPath(..))
    ));
    assert!(matches!(
        ws.read_relative("/etc/passwd", None, None),
        Err(WorkspaceError::InvalidPath(..))
    ));
}

#[cfg(unix)]
#[test]
fn read_relative_refuses_symlink_escapes_but_follows_inner_links() {
    use std::os::unix::fs::symlink;
    let tmp = TempDir::new("symlink");
    let ws = Workspace::new(tmp.path().join("ws"));
    ws.ensure().unwrap();
    write(&tmp.path().join("outside/secret.txt"), "top secret");
    symlink(
        tmp.path().join("outside/secret.txt"),
        ws.root().join("leak.md"),
    )
    .unwrap();
    symlink(tmp.path().join("outside"), ws.root().join("memory/linked")).unwrap();
    for rel in ["leak.md", "memory/linked/secret.txt"] {
        let err = ws.read_relative(rel, None, None).unwrap_err();
        assert!(
            matches!(err, WorkspaceError::OutsideWorkspace(_)),
            "{rel}: {err}"
        );
        assert!(!err.to_string().contains("top secret"));
    }
    // A link that stays inside is fine.
    symlink(ws.root().join("SOUL.md"), ws.root().join("soul-link.md")).unwrap();
    assert!(
        ws.read_relative("soul-link.md", None, None)
            .unwrap()
            .contains("SOUL.md")
    );

    // memory_documents skips the escaping note instead of indexing it.
    symlink(
        tmp.path().join("outside/secret.txt"),
        ws.root().join("memory/2026-01-01.md"),
    )
    .unwrap();
    let docs = ws.memory_documents().unwrap();
    assert!(docs.iter().all(|(_, text, _)| !text.contains("top secret")));

    // Appending to a daily note through an escaping link is refused.
    let err = ws
        .append_daily_note((2026, 1, 1), "10:00", "x")
        .unwrap_err();
    assert!(matches!(err, WorkspaceError::OutsideWorkspace(_)), "{err}");
    assert_eq!(
        fs::read_to_string(tmp.path().join("outside/secret.txt")).unwrap(),
        "top secret"
    );
}

#[test]
fn memory_documents_lists_memory_md_and_daily_notes() {
    let tmp = TempDir::new("docs");
    let ws = Workspace::new(tmp.path());
    assert!(ws.memory_documents().unwrap().is_empty());
    write(&ws.root().join("MEMORY.md"), "long term");
    write(&ws.root().join("memory/2026-01-02.md"), "second");
    write(&ws.root().join("memory/2026-01-01.md"), "first");
    write(&ws.root().join("memory/image.png"), "not markdown");
    write(
        &ws.root().join("memory/sub/deep.md"),
        "not indexed: only memory/*.md",
    );
    write(&ws.root().join("SOUL.md"), "not memory");
    let docs = ws.memory_documents().unwrap();
    let rels: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(
        rels,
        ["MEMORY.md", "memory/2026-01-01.md", "memory/2026-01-02.md"]
    );
    assert_eq!(docs[1].1, "first");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (_, _, mtime) in &docs {
        assert!(
            (now_ms - mtime).abs() < 600_000,
            "mtime {mtime} vs now {now_ms}"
        );
    }
}
