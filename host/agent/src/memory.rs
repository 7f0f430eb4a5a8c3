//! Keeps the FTS5 memory index in step with the workspace's memory files and transcripts.

use chitin_store::Store;
use chitin_workspace::Workspace;

/// Re-indexes MEMORY.md and memory/*.md whose modification time changed; unchanged files are
/// not read. Errors are logged: a stale index must never stop a turn.
pub fn sync_workspace(store: &Store, workspace: &Workspace, agent_id: &str) {
    let documents = match workspace.memory_document_mtimes() {
        Ok(documents) => documents,
        Err(err) => {
            tracing::warn!(agent = agent_id, error = %err, "cannot list memory files");
            return;
        }
    };
    for (path, mtime) in documents {
        match store.memory_document_mtime(agent_id, &path) {
            Ok(Some(indexed)) if indexed == mtime => continue,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(agent = agent_id, error = %err, "memory index unavailable");
                return;
            }
        }
        let text = match workspace.read_relative(&path, None, None) {
            Ok(text) => text,
            Err(err) => {
                tracing::warn!(agent = agent_id, path, error = %err, "cannot read memory file");
                continue;
            }
        };
        if let Err(err) = store.memory_index_document(agent_id, &path, &text, mtime) {
            tracing::warn!(agent = agent_id, path, error = %err, "cannot index memory file");
        }
    }
}

/// Indexes one workspace file now (after memory_write appended to it).
pub fn index_file(store: &Store, workspace: &Workspace, agent_id: &str, path: &str) {
    match workspace.read_relative(path, None, None) {
        Ok(text) => {
            if let Err(err) =
                store.memory_index_document(agent_id, path, &text, crate::dates::now_ms())
            {
                tracing::warn!(agent = agent_id, path, error = %err, "cannot index memory file");
            }
        }
        Err(err) => tracing::warn!(agent = agent_id, path, error = %err, "cannot read memory file"),
    }
}

/// Indexes one turn of a session (its user and assistant text, from `first_seq` on) as a
/// searchable document of its own, so each turn costs only its own messages however long the
/// session grows.
pub fn index_turn(store: &Store, agent_id: &str, session_key: &str, first_seq: i64) {
    // A turn holds the user message, at most one assistant message and a batch of tool results
    // per model call; 512 covers any max_iterations an operator would set.
    let rows = match store.history(session_key, 512, None) {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(session = session_key, error = %err, "cannot read the turn for indexing");
            return;
        }
    };
    let text: String = rows
        .iter()
        .filter(|r| r.seq >= first_seq)
        .filter(|r| {
            matches!(
                r.role,
                chitin_store::MessageRole::User | chitin_store::MessageRole::Assistant
            )
        })
        .filter(|r| !r.content.trim().is_empty())
        .map(|r| format!("{}: {}\n\n", r.role.as_str(), r.content))
        .collect();
    let source = format!("session:{session_key}#{first_seq}");
    if let Err(err) = store.memory_index_document(agent_id, &source, &text, crate::dates::now_ms())
    {
        tracing::warn!(session = session_key, error = %err, "cannot index the turn");
    }
}
