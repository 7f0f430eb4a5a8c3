//! Keeps the FTS5 memory index in step with the workspace's memory files and transcripts.

use chitin_store::Store;
use chitin_workspace::Workspace;

/// Re-indexes MEMORY.md and memory/*.md whose modification time changed. Errors are logged:
/// a stale index must never stop a turn.
pub fn sync_workspace(store: &Store, workspace: &Workspace, agent_id: &str) {
    let documents = match workspace.memory_documents() {
        Ok(documents) => documents,
        Err(err) => {
            tracing::warn!(agent = agent_id, error = %err, "cannot list memory files");
            return;
        }
    };
    for (path, text, mtime) in documents {
        match store.memory_document_mtime(agent_id, &path) {
            Ok(Some(indexed)) if indexed == mtime => continue,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(agent = agent_id, error = %err, "memory index unavailable");
                return;
            }
        }
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

/// Indexes a session's conversation (user and assistant text) as one searchable document.
pub fn index_transcript(store: &Store, agent_id: &str, session_key: &str) {
    let rows = match store.history(session_key, 10_000, None) {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(session = session_key, error = %err, "cannot read transcript for indexing");
            return;
        }
    };
    let text: String = rows
        .iter()
        .filter(|r| {
            matches!(
                r.role,
                chitin_store::MessageRole::User | chitin_store::MessageRole::Assistant
            )
        })
        .filter(|r| !r.content.trim().is_empty())
        .map(|r| format!("{}: {}\n\n", r.role.as_str(), r.content))
        .collect();
    let source = format!("session:{session_key}");
    if let Err(err) = store.memory_index_document(agent_id, &source, &text, crate::dates::now_ms())
    {
        tracing::warn!(session = session_key, error = %err, "cannot index transcript");
    }
}
