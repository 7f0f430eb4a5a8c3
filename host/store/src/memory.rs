//! The memory index: full-text search (SQLite FTS5, bm25 ranking) over an agent's memory
//! documents — `MEMORY.md`, `memory/YYYY-MM-DD.md`, other workspace files, and session
//! transcripts indexed as `session:<key>`.
//!
//! A document is split into chunks of at most [`CHUNK_MAX_LINES`] lines and
//! [`CHUNK_MAX_CHARS`] characters, cut at paragraph (blank line) boundaries when possible; each
//! chunk remembers the lines it came from so `memory_get` can read them back from the file.

use std::collections::HashSet;

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError, now_ms, to_i64_limit, to_u64};

/// The most lines a chunk spans.
pub const CHUNK_MAX_LINES: usize = 40;
/// The most characters a chunk holds.
pub const CHUNK_MAX_CHARS: usize = 2000;
/// The most terms of a search query used; the rest are ignored.
pub const MAX_QUERY_TERMS: usize = 64;
/// Longer query terms are cut to this many characters.
const MAX_TERM_CHARS: usize = 128;
/// The most tokens a snippet shows.
const SNIPPET_TOKENS: i64 = 24;
/// Around the matched terms in [`MemoryHit::snippet`].
pub const SNIPPET_MARK_START: &str = "**";
pub const SNIPPET_MARK_END: &str = "**";
/// Marks text left out at either end of a snippet.
pub const SNIPPET_ELLIPSIS: &str = "…";

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryHit {
    /// The document, as passed to [`Store::memory_index_document`].
    pub source: String,
    /// The lines of the document the matching chunk covers, 1-based and inclusive.
    pub start_line: u64,
    pub end_line: u64,
    /// A short excerpt of the chunk with the matched terms between [`SNIPPET_MARK_START`] and
    /// [`SNIPPET_MARK_END`].
    pub snippet: String,
    /// Relevance (bm25, negated so that higher is better); comparable within one search only.
    pub score: f64,
}

/// An indexed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryDocument {
    pub source: String,
    pub mtime_ms: i64,
    pub indexed_ms: i64,
    pub chunk_count: u64,
}

/// A piece of a document, with the 1-based inclusive line range it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub start_line: usize,
    pub end_line: usize,
    pub text: String,
}

struct Chunker {
    chunks: Vec<Chunk>,
    current: Option<(Chunk, usize)>,
}

impl Chunker {
    fn flush(&mut self) {
        if let Some((chunk, _)) = self.current.take() {
            self.chunks.push(chunk);
        }
    }

    /// Adds a paragraph that fits in a chunk on its own to the current chunk, or starts a new
    /// one when it would not fit.
    fn push_paragraph(&mut self, start_line: usize, end_line: usize, text: String, chars: usize) {
        if let Some((chunk, used)) = &mut self.current {
            if end_line - chunk.start_line < CHUNK_MAX_LINES && *used + 2 + chars <= CHUNK_MAX_CHARS
            {
                chunk.text.push_str("\n\n");
                chunk.text.push_str(&text);
                chunk.end_line = end_line;
                *used += 2 + chars;
                return;
            }
            self.flush();
        }
        self.current = Some((
            Chunk {
                start_line,
                end_line,
                text,
            },
            chars,
        ));
    }

    /// Splits a paragraph too big for one chunk at line boundaries (and a line too long for
    /// one chunk at character boundaries); every piece is a chunk of its own.
    fn push_oversized(&mut self, lines: &[(usize, &str)]) {
        self.flush();
        let mut piece: Option<(Chunk, usize)> = None;
        for &(number, line) in lines {
            let chars = line.chars().count();
            if chars > CHUNK_MAX_CHARS {
                self.chunks.extend(piece.take().map(|(chunk, _)| chunk));
                let all: Vec<char> = line.chars().collect();
                for part in all.chunks(CHUNK_MAX_CHARS) {
                    self.chunks.push(Chunk {
                        start_line: number,
                        end_line: number,
                        text: part.iter().collect(),
                    });
                }
                continue;
            }
            if let Some((chunk, used)) = &mut piece {
                if number - chunk.start_line < CHUNK_MAX_LINES
                    && *used + 1 + chars <= CHUNK_MAX_CHARS
                {
                    chunk.text.push('\n');
                    chunk.text.push_str(line);
                    chunk.end_line = number;
                    *used += 1 + chars;
                    continue;
                }
                self.chunks.extend(piece.take().map(|(chunk, _)| chunk));
            }
            piece = Some((
                Chunk {
                    start_line: number,
                    end_line: number,
                    text: line.to_string(),
                },
                chars,
            ));
        }
        self.chunks.extend(piece.map(|(chunk, _)| chunk));
    }

    fn push_lines(&mut self, lines: &[(usize, &str)]) {
        let (Some(&(first, _)), Some(&(last, _))) = (lines.first(), lines.last()) else {
            return;
        };
        let chars = lines.iter().map(|(_, l)| l.chars().count()).sum::<usize>() + lines.len() - 1;
        if last - first < CHUNK_MAX_LINES && chars <= CHUNK_MAX_CHARS {
            let text = lines.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
            self.push_paragraph(first, last, text, chars);
        } else {
            self.push_oversized(lines);
        }
    }
}

/// Splits `text` into chunks of at most [`CHUNK_MAX_LINES`] lines and [`CHUNK_MAX_CHARS`]
/// characters. Paragraphs (runs of non-blank lines) are kept whole and packed together while
/// they fit; blank lines are not indexed.
pub(crate) fn chunk_text(text: &str) -> Vec<Chunk> {
    let mut chunker = Chunker {
        chunks: Vec::new(),
        current: None,
    };
    let mut paragraph: Vec<(usize, &str)> = Vec::new();
    for (number, line) in (1usize..).zip(text.lines()) {
        if line.trim().is_empty() {
            chunker.push_lines(&paragraph);
            paragraph.clear();
        } else {
            paragraph.push((number, line));
        }
    }
    chunker.push_lines(&paragraph);
    chunker.flush();
    chunker.chunks
}

/// Turns user or model text into an FTS5 query that cannot be a syntax error: each
/// whitespace-separated word becomes a quoted string (inside quotes every character is
/// literal; quotes are doubled), and the words are joined with OR so a chunk matching any of
/// them is found and bm25 ranks chunks matching more (and rarer) words first. Words without a
/// letter or digit are dropped; `None` when nothing is left to search for.
pub(crate) fn fts_query(query: &str) -> Option<String> {
    let cleaned: String = query
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut seen = HashSet::new();
    let mut terms = Vec::new();
    for word in cleaned.split_whitespace() {
        if !word.chars().any(char::is_alphanumeric) {
            continue;
        }
        let word: String = word.chars().take(MAX_TERM_CHARS).collect();
        if !seen.insert(word.to_lowercase()) {
            continue;
        }
        terms.push(format!("\"{}\"", word.replace('"', "\"\"")));
        if terms.len() >= MAX_QUERY_TERMS {
            break;
        }
    }
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

fn check_document(agent_id: &str, source: &str) -> Result<(), StoreError> {
    if agent_id.is_empty() {
        return Err(StoreError::invalid(
            "the agent id is empty; pass the id of the agent whose memory this is",
        ));
    }
    if source.is_empty() {
        return Err(StoreError::invalid(
            "the memory source is empty; pass the document's path relative to the workspace \
             (e.g. `MEMORY.md`) or `session:<key>`",
        ));
    }
    Ok(())
}

impl Store {
    /// Replaces the indexed chunks of one source document (a file path like "MEMORY.md" or
    /// "memory/2026-11-21.md", or "session:<key>") for an agent, and records its `mtime_ms`.
    /// Returns how many chunks were indexed (0 for a blank document, which is still recorded).
    pub fn memory_index_document(
        &self,
        agent_id: &str,
        source: &str,
        text: &str,
        mtime_ms: i64,
    ) -> Result<usize, StoreError> {
        check_document(agent_id, source)?;
        let chunks = chunk_text(text);
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM memory_chunks WHERE agent_id = ?1 AND source = ?2")?
            .execute(params![agent_id, source])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO memory_chunks (agent_id, source, start_line, end_line, text) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for chunk in &chunks {
                insert.execute(params![
                    agent_id,
                    source,
                    to_i64_limit(chunk.start_line),
                    to_i64_limit(chunk.end_line),
                    chunk.text,
                ])?;
            }
        }
        tx.prepare_cached(
            "INSERT INTO memory_documents (agent_id, source, mtime_ms, indexed_ms, chunk_count) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (agent_id, source) DO UPDATE SET mtime_ms = excluded.mtime_ms, \
             indexed_ms = excluded.indexed_ms, chunk_count = excluded.chunk_count",
        )?
        .execute(params![
            agent_id,
            source,
            mtime_ms,
            now,
            to_i64_limit(chunks.len())
        ])?;
        tx.commit()?;
        Ok(chunks.len())
    }

    /// The `mtime_ms` recorded when the document was last indexed (to skip unchanged files);
    /// `None` when it is not indexed.
    pub fn memory_document_mtime(
        &self,
        agent_id: &str,
        source: &str,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT mtime_ms FROM memory_documents WHERE agent_id = ?1 AND source = ?2",
            )?
            .query_row(params![agent_id, source], |row| row.get(0))
            .optional()?)
    }

    /// The agent's indexed documents, sorted by source (to find the ones whose file is gone).
    pub fn memory_documents(&self, agent_id: &str) -> Result<Vec<MemoryDocument>, StoreError> {
        let conn = self.conn();
        let rows = conn
            .prepare_cached(
                "SELECT source, mtime_ms, indexed_ms, chunk_count FROM memory_documents \
                 WHERE agent_id = ?1 ORDER BY source",
            )?
            .query_map(params![agent_id], |row| {
                Ok(MemoryDocument {
                    source: row.get(0)?,
                    mtime_ms: row.get(1)?,
                    indexed_ms: row.get(2)?,
                    chunk_count: to_u64(row.get(3)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Removes a document and its chunks from the agent's index; removing one that is not
    /// indexed does nothing.
    pub fn memory_remove_document(&self, agent_id: &str, source: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("DELETE FROM memory_chunks WHERE agent_id = ?1 AND source = ?2")?
            .execute(params![agent_id, source])?;
        tx.prepare_cached("DELETE FROM memory_documents WHERE agent_id = ?1 AND source = ?2")?
            .execute(params![agent_id, source])?;
        tx.commit()?;
        Ok(())
    }

    /// Full-text search of the agent's memory: up to `limit` chunks, best first (bm25), each
    /// with a snippet around the match. `query` is plain text from a user or a model: FTS5
    /// syntax in it (quotes, `*`, `:`, `-`, `NEAR`, `AND`/`OR`, parentheses) is searched for as
    /// text, never interpreted, so no query is an error; one with no words finds nothing.
    pub fn memory_search(
        &self,
        agent_id: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemoryHit>, StoreError> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let hits = conn
            .prepare_cached(
                "SELECT c.source, c.start_line, c.end_line, \
                 snippet(memory_fts, 0, ?4, ?5, ?6, ?7), bm25(memory_fts) \
                 FROM memory_fts JOIN memory_chunks AS c ON c.id = memory_fts.rowid \
                 WHERE memory_fts MATCH ?1 AND c.agent_id = ?2 \
                 ORDER BY bm25(memory_fts), c.id LIMIT ?3",
            )?
            .query_map(
                params![
                    fts,
                    agent_id,
                    to_i64_limit(limit),
                    SNIPPET_MARK_START,
                    SNIPPET_MARK_END,
                    SNIPPET_ELLIPSIS,
                    SNIPPET_TOKENS
                ],
                |row| {
                    Ok(MemoryHit {
                        source: row.get(0)?,
                        start_line: to_u64(row.get(1)?),
                        end_line: to_u64(row.get(2)?),
                        snippet: row.get(3)?,
                        score: -row.get::<_, f64>(4)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_are_packed_and_line_numbers_kept() {
        let text = "# Title\n\nfirst para\nline two\n\n\nsecond para\n";
        let chunks = chunk_text(text);
        assert_eq!(
            chunks,
            [Chunk {
                start_line: 1,
                end_line: 7,
                text: "# Title\n\nfirst para\nline two\n\nsecond para".to_string(),
            }]
        );
        assert!(chunk_text("").is_empty());
        assert!(chunk_text("\n  \n\t\n").is_empty());
    }

    #[test]
    fn chunks_respect_line_and_char_limits() {
        // 100 one-line paragraphs: 40-line spans at most.
        let text: String = (1..=100).map(|i| format!("para {i}\n\n")).collect();
        let chunks = chunk_text(&text);
        assert!(chunks.len() >= 5, "{}", chunks.len());
        for chunk in &chunks {
            assert!(
                chunk.end_line - chunk.start_line < CHUNK_MAX_LINES,
                "{chunk:?}"
            );
            assert!(chunk.text.chars().count() <= CHUNK_MAX_CHARS);
        }
        // Paragraphs are never split when they fit: each chunk starts at a paragraph.
        assert!(chunks.iter().all(|c| c.text.starts_with("para ")));
        let all: Vec<&str> = chunks.iter().flat_map(|c| c.text.split("\n\n")).collect();
        assert_eq!(all.len(), 100);

        // One 100-line paragraph is split at line boundaries.
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let chunks = chunk_text(&text);
        assert_eq!(
            chunks
                .iter()
                .map(|c| (c.start_line, c.end_line))
                .collect::<Vec<_>>(),
            [(1, 40), (41, 80), (81, 100)]
        );

        // A 5000-character line becomes three chunks of that one line.
        let long = "é".repeat(5000);
        let text = format!("before\n{long}\nafter");
        let chunks = chunk_text(&text);
        assert_eq!(
            chunks
                .iter()
                .map(|c| (c.start_line, c.end_line, c.text.chars().count()))
                .collect::<Vec<_>>(),
            [
                (1, 1, 6),
                (2, 2, 2000),
                (2, 2, 2000),
                (2, 2, 1000),
                (3, 3, 5)
            ]
        );
    }

    #[test]
    fn queries_are_quoted() {
        assert_eq!(fts_query(""), None);
        assert_eq!(fts_query("  * - \" ( ) "), None);
        assert_eq!(
            fts_query("say \"hi\" a:b -x NEAR( OR"),
            Some(r#""say" OR """hi""" OR "a:b" OR "-x" OR "NEAR(" OR "OR""#.to_string())
        );
        // Duplicates (ignoring case) are searched once; the term count is bounded.
        assert_eq!(fts_query("Dog dog DOG"), Some("\"Dog\"".to_string()));
        let many: String = (0..1000).map(|i| format!("w{i} ")).collect();
        assert_eq!(
            fts_query(&many).unwrap().matches(" OR ").count(),
            MAX_QUERY_TERMS - 1
        );
    }
}
