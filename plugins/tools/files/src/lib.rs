//! `files`: list, read, write and edit files inside the one directory the operator grants.
//!
//! The plugin sees a single directory, mounted by the host at `/workspace` (a WASI preopen: the
//! grant maps it to a host directory, read-only or read-write). Every path argument is relative
//! to that root. Absolute paths, `..` and symbolic links leading out of it are refused here with
//! a message the model can act on; the preopen would refuse them anyway.

mod paths;

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use chitin_sdk::tool::{CallContext, Tool, ToolError, ToolOutput, ToolSpec};

use paths::WsPath;

/// The guest path the manifest requests.
const ROOT: &str = "/workspace";

const DEFAULT_MAX_ENTRIES: usize = 200;
const LIMIT_MAX_ENTRIES: usize = 5000;
const DEFAULT_MAX_BYTES: usize = 64 * 1024;
const LIMIT_MAX_BYTES: usize = 512 * 1024;
/// Largest file `files_edit` loads whole.
const EDIT_MAX_BYTES: u64 = 8 << 20;
/// Files up to this size are read to the end to count their lines for the notes.
const COUNT_LINES_UP_TO: u64 = 16 << 20;
/// A NUL byte in the first this many bytes makes a file binary.
const BINARY_SNIFF_BYTES: usize = 8192;
/// Occurrence lines listed when `old` is not unique.
const MAX_LISTED_MATCHES: usize = 10;

/// `EPERM`: what the preopen answers to a write on a read-only grant (WASI numbering on the
/// guest; the native value keeps unit tests compiling).
#[cfg(target_os = "wasi")]
const EPERM: i32 = 63;
#[cfg(not(target_os = "wasi"))]
const EPERM: i32 = 1;

const NO_GRANT: &str = "no workspace directory is granted to this plugin, so there are no files \
    to work with. Tell the user: the operator adds one to chitin.toml under [plugins.files.grant], \
    e.g. files = [{ path = \"/workspace\", host_dir = \"/absolute/host/dir\", access = \
    \"read-write\" }] (or access = \"read\" for reading only)";

struct Files;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    max_entries: Option<usize>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    #[serde(default)]
    start_line: Option<usize>,
    #[serde(default)]
    end_line: Option<usize>,
    #[serde(default)]
    max_bytes: Option<usize>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    path: String,
    old: String,
    new: String,
}

const PATH_HELP: &str =
    "Path relative to the workspace root, e.g. `src/main.rs` (no leading `/`, no `..`)";

impl Tool for Files {
    fn describe() -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "files_list",
                "List a directory of the workspace: files with their sizes, subdirectories \
                 ending in `/`. Paths in the listing are relative to the workspace root and can \
                 be passed to the other files_ tools as they are.",
                serde_json::json!({
                    "type": "object",
                    "properties": {
                        "path": {
                            "type": "string",
                            "description": "Directory relative to the workspace root; `.` (the default) is the root"
                        },
                        "recursive": {
                            "type": "boolean",
                            "description": "Also list everything below it (default false)"
                        },
                        "max_entries": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": LIMIT_MAX_ENTRIES,
                            "description": "Most entries to return (default 200)"
                        }
                    },
                    "additionalProperties": false
                }),
            ),
            ToolSpec::new(
                "files_read",
                "Read a text file of the workspace, optionally only lines start_line..end_line \
                 (1-based, inclusive). Output over max_bytes is cut at a line boundary, with a \
                 note saying where to continue.",
                serde_json::json!({
                    "type": "object",
                    "properties": {
                        "path": { "type": "string", "description": PATH_HELP },
                        "start_line": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "First line to return (default 1)"
                        },
                        "end_line": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "Last line to return (default: the end of the file)"
                        },
                        "max_bytes": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": LIMIT_MAX_BYTES,
                            "description": "Most bytes of text to return (default 65536)"
                        }
                    },
                    "required": ["path"],
                    "additionalProperties": false
                }),
            ),
            ToolSpec::new(
                "files_write",
                "Create a file in the workspace, or replace its whole content. Missing parent \
                 directories are created. To change part of an existing file, use files_edit.",
                serde_json::json!({
                    "type": "object",
                    "properties": {
                        "path": { "type": "string", "description": PATH_HELP },
                        "content": { "type": "string", "description": "The complete new content" }
                    },
                    "required": ["path", "content"],
                    "additionalProperties": false
                }),
            ),
            ToolSpec::new(
                "files_edit",
                "Replace one exact piece of text in a workspace file: `old` must occur exactly \
                 once (whitespace and line breaks included); it is replaced by `new`. Include \
                 enough surrounding lines in `old` to make it unique.",
                serde_json::json!({
                    "type": "object",
                    "properties": {
                        "path": { "type": "string", "description": PATH_HELP },
                        "old": { "type": "string", "description": "The exact text to replace, copied from the file" },
                        "new": { "type": "string", "description": "The text to put in its place (may be empty)" }
                    },
                    "required": ["path", "old", "new"],
                    "additionalProperties": false
                }),
            ),
        ]
    }

    fn call(name: String, arguments: String, _cx: CallContext) -> Result<ToolOutput, ToolError> {
        match name.as_str() {
            "files_list" => list(root()?, chitin_sdk::parse_arguments(&arguments)?),
            "files_read" => read(root()?, chitin_sdk::parse_arguments(&arguments)?),
            "files_write" => write(root()?, chitin_sdk::parse_arguments(&arguments)?),
            "files_edit" => edit(root()?, chitin_sdk::parse_arguments(&arguments)?),
            _ => Err(ToolError::UnknownTool(name)),
        }
    }
}

chitin_sdk::export_tool!(Files);

fn failed(message: impl Into<String>) -> ToolError {
    ToolError::Failed(message.into())
}

/// The granted directory, or the error telling the operator how to grant it.
fn root() -> Result<&'static Path, ToolError> {
    let root = Path::new(ROOT);
    match fs::metadata(root) {
        Ok(meta) if meta.is_dir() => Ok(root),
        _ => Err(failed(NO_GRANT)),
    }
}

/// A path argument, checked and resolved inside the workspace.
fn checked(root: &Path, arg: &str) -> Result<WsPath, ToolError> {
    let components = paths::lexical(arg).map_err(ToolError::InvalidArguments)?;
    paths::resolve(root, arg, components).map_err(|refusal| failed(refusal.message()))
}

/// An I/O error worded for the model. `writing` says whether the operation changes files, so
/// a read-only grant can be named as the cause.
fn io_failed(action: &str, path: &WsPath, err: &io::Error, writing: bool) -> ToolError {
    let rel = path.relative();
    let read_only =
        err.raw_os_error() == Some(EPERM) || err.kind() == io::ErrorKind::ReadOnlyFilesystem;
    if writing && read_only {
        return failed(format!(
            "cannot {action} `{rel}`: the workspace is read-only for this plugin (the operator \
             granted /workspace with access = \"read\"), so nothing was changed; listing and \
             reading still work. Tell the user: to allow changes, set access = \"read-write\" \
             in the files grant under [plugins.files.grant] in chitin.toml, e.g. files = [{{ \
             path = \"/workspace\", host_dir = \"/absolute/host/dir\", access = \"read-write\" \
             }}]"
        ));
    }
    match err.kind() {
        io::ErrorKind::NotFound => failed(format!(
            "`{rel}` does not exist in the workspace; use files_list to see what is there"
        )),
        io::ErrorKind::PermissionDenied => failed(format!(
            "cannot {action} `{rel}`: permission denied (the host's file permissions or the \
             grant refuse it)"
        )),
        _ => failed(format!("cannot {action} `{rel}`: {err}")),
    }
}

// ---- files_list ------------------------------------------------------------------------------

fn list(root: &Path, args: ListArgs) -> Result<ToolOutput, ToolError> {
    let dir = checked(root, args.path.as_deref().unwrap_or("."))?;
    let max = args
        .max_entries
        .unwrap_or(DEFAULT_MAX_ENTRIES)
        .clamp(1, LIMIT_MAX_ENTRIES);
    let meta = fs::metadata(dir.under(root)).map_err(|err| io_failed("list", &dir, &err, false))?;
    if !meta.is_dir() {
        return Err(failed(format!(
            "`{}` is a file, not a directory; read it with files_read",
            dir.relative()
        )));
    }
    let mut lines = Vec::new();
    let mut complete = true;
    walk(root, &dir, args.recursive, max, &mut lines, &mut complete)
        .map_err(|err| io_failed("list", &dir, &err, false))?;
    let rel = dir.relative();
    if lines.is_empty() {
        return Ok(ToolOutput::text(format!("`{rel}` is empty.")));
    }
    let mut out = format!(
        "Contents of `{rel}`{}:\n",
        if args.recursive { " (recursive)" } else { "" }
    );
    out.push_str(&lines.join("\n"));
    if !complete {
        out.push_str(&format!(
            "\n[stopped after {max} entries: list a subdirectory, or pass a larger max_entries \
             (at most {LIMIT_MAX_ENTRIES})]"
        ));
    }
    Ok(ToolOutput::text(out))
}

/// Appends the entries of `dir` (and below, if `recursive`) to `out`, sorted by name, until
/// `max` entries; symbolic links are shown, never followed.
fn walk(
    root: &Path,
    dir: &WsPath,
    recursive: bool,
    max: usize,
    out: &mut Vec<String>,
    complete: &mut bool,
) -> io::Result<()> {
    let mut entries: Vec<(String, fs::FileType, u64)> = Vec::new();
    for entry in fs::read_dir(dir.under(root))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        entries.push((
            entry.file_name().to_string_lossy().into_owned(),
            meta.file_type(),
            meta.len(),
        ));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, file_type, len) in entries {
        if out.len() >= max {
            *complete = false;
            return Ok(());
        }
        let entry = dir.child(&name);
        let rel = entry.relative();
        if file_type.is_symlink() {
            // The preopen refuses to read a link whose target lies outside it.
            let target = fs::read_link(entry.under(root))
                .map(|t| t.to_string_lossy().into_owned())
                .ok();
            let Some(target) = target.filter(|t| !paths::link_leaves(dir, t)) else {
                out.push(format!(
                    "{rel} -> (symbolic link pointing outside the workspace; cannot be used)"
                ));
                continue;
            };
            out.push(format!("{rel} -> {target}"));
        } else if file_type.is_dir() {
            out.push(format!("{rel}/"));
            if recursive {
                if let Err(err) = walk(root, &entry, recursive, max, out, complete) {
                    out.push(format!("{rel}/ (cannot be listed: {err})"));
                }
                if !*complete {
                    return Ok(());
                }
            }
        } else {
            out.push(format!("{rel}  ({})", plural(len as usize, "byte")));
        }
    }
    Ok(())
}

// ---- files_read ------------------------------------------------------------------------------

/// What reading a line range produced.
struct Excerpt {
    text: Vec<u8>,
    /// First and last line in `text` (1-based), if any.
    first: Option<usize>,
    last: usize,
    /// The output limit was reached.
    cut: Option<Cut>,
    /// Lines in the file, when it was read to the end.
    total_lines: Option<usize>,
}

enum Cut {
    /// Stopped before this line: everything shown ends on a line boundary.
    BeforeLine(usize),
    /// This line alone was over the limit: only its beginning is shown.
    InsideLine(usize),
}

fn read(root: &Path, args: ReadArgs) -> Result<ToolOutput, ToolError> {
    let path = checked(root, &args.path)?;
    let rel = path.relative();
    let start = args.start_line.unwrap_or(1);
    if start == 0 {
        return Err(ToolError::InvalidArguments(
            "start_line counts from 1 (the first line is line 1)".to_string(),
        ));
    }
    if let Some(end) = args.end_line
        && end < start
    {
        return Err(ToolError::InvalidArguments(format!(
            "end_line {end} is before start_line {start}; pass end_line >= start_line"
        )));
    }
    let max_bytes = args
        .max_bytes
        .unwrap_or(DEFAULT_MAX_BYTES)
        .clamp(1, LIMIT_MAX_BYTES);
    let host = path.under(root);
    let meta = fs::metadata(&host).map_err(|err| io_failed("read", &path, &err, false))?;
    if meta.is_dir() {
        return Err(failed(format!(
            "`{rel}` is a directory; list it with files_list"
        )));
    }
    let size = meta.len();
    let file = fs::File::open(&host).map_err(|err| io_failed("read", &path, &err, false))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let head = reader
        .fill_buf()
        .map_err(|err| io_failed("read", &path, &err, false))?;
    if head.is_empty() {
        return Ok(ToolOutput::text(format!("[`{rel}` is empty]")));
    }
    if head[..head.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Err(failed(format!(
            "`{rel}` looks like a binary file ({size} bytes, it contains NUL bytes); files_read \
             only returns text"
        )));
    }
    let excerpt = read_lines(
        &mut reader,
        start,
        args.end_line,
        max_bytes,
        size <= COUNT_LINES_UP_TO,
    )
    .map_err(|err| io_failed("read", &path, &err, false))?;

    let Some(first) = excerpt.first else {
        let lines = excerpt
            .total_lines
            .map(|n| format!("has {n} lines"))
            .unwrap_or_else(|| format!("has fewer lines ({size} bytes)"));
        return Err(ToolError::InvalidArguments(format!(
            "`{rel}` {lines}; start_line {start} is past its end"
        )));
    };
    let mut out = match String::from_utf8(excerpt.text) {
        Ok(text) => text,
        Err(err) => {
            let mut text = String::from_utf8_lossy(err.as_bytes()).into_owned();
            text.push_str(
                "\n[the file is not valid UTF-8: undecodable bytes are shown as \u{FFFD}]",
            );
            text
        }
    };
    let of_total = match excerpt.total_lines {
        Some(n) => format!("{}, {}", plural(n, "line"), plural(size as usize, "byte")),
        None => plural(size as usize, "byte"),
    };
    match excerpt.cut {
        Some(Cut::BeforeLine(next)) => out.push_str(&format!(
            "\n[truncated: showing {} of `{rel}` ({of_total}); the output limit of {max_bytes} \
             bytes was reached. Continue with start_line={next}, or pass a larger max_bytes (at \
             most {LIMIT_MAX_BYTES})]",
            span(first, excerpt.last)
        )),
        Some(Cut::InsideLine(line)) => out.push_str(&format!(
            "\n[truncated: line {line} of `{rel}` ({of_total}) alone is longer than {max_bytes} \
             bytes; only its beginning is shown. Pass a larger max_bytes (at most \
             {LIMIT_MAX_BYTES}) to see more of it, or continue with start_line={}]",
            line + 1
        )),
        None if first != 1 || args.end_line.is_some() => out.push_str(&format!(
            "\n[{} of `{rel}` ({of_total})]",
            span(first, excerpt.last)
        )),
        None => {}
    }
    Ok(ToolOutput::text(out))
}

fn plural(n: usize, unit: &str) -> String {
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `line 3` or `lines 3-5`.
fn span(first: usize, last: usize) -> String {
    if last <= first {
        format!("line {first}")
    } else {
        format!("lines {first}-{last}")
    }
}

/// Reads lines `start..=end` into at most `max_bytes`, cutting at a line boundary where it can.
/// With `count_all`, keeps reading to the end of the file to count its lines.
fn read_lines(
    reader: &mut impl BufRead,
    start: usize,
    end: Option<usize>,
    max_bytes: usize,
    count_all: bool,
) -> io::Result<Excerpt> {
    let end = end.unwrap_or(usize::MAX);
    let mut ex = Excerpt {
        text: Vec::new(),
        first: None,
        last: 0,
        cut: None,
        total_lines: None,
    };
    // The line being read (1-based), whether it has any bytes, and where it starts in `text`.
    let mut line = 1usize;
    let mut line_has_bytes = false;
    let mut line_start = 0usize;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            // A last line without a final newline still counts.
            ex.total_lines = Some(if line_has_bytes { line } else { line - 1 });
            if line_has_bytes && ex.cut.is_none() && (start..=end).contains(&line) {
                ex.last = line;
            }
            return Ok(ex);
        }
        let collecting = ex.cut.is_none() && line <= end;
        if !collecting && !count_all {
            return Ok(ex);
        }
        let (piece, newline) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let used = piece.len();
        if collecting && line >= start {
            if ex.first.is_none() {
                ex.first = Some(line);
            }
            if ex.text.len() + piece.len() <= max_bytes {
                ex.text.extend_from_slice(piece);
                if newline {
                    ex.last = line;
                }
            } else if line_start > 0 {
                // Drop the partial line: what is shown ends on a line boundary.
                ex.text.truncate(line_start);
                ex.cut = Some(Cut::BeforeLine(line));
            } else {
                let room = max_bytes - ex.text.len();
                ex.text.extend_from_slice(&piece[..room]);
                trim_to_char_boundary(&mut ex.text);
                ex.last = line;
                ex.cut = Some(Cut::InsideLine(line));
            }
        }
        reader.consume(used);
        line_has_bytes = true;
        if newline {
            line += 1;
            line_has_bytes = false;
            line_start = ex.text.len();
        }
    }
}

/// Drops a UTF-8 sequence cut in half at the end of `text`.
fn trim_to_char_boundary(text: &mut Vec<u8>) {
    if let Err(err) = std::str::from_utf8(text)
        && err.error_len().is_none()
    {
        text.truncate(err.valid_up_to());
    }
}

// ---- files_write -----------------------------------------------------------------------------

fn write(root: &Path, args: WriteArgs) -> Result<ToolOutput, ToolError> {
    let path = checked(root, &args.path)?;
    if path.components.is_empty() {
        return Err(ToolError::InvalidArguments(
            "path names the workspace root itself; name a file, e.g. `notes.md`".to_string(),
        ));
    }
    let rel = path.relative();
    let host = path.under(root);
    let previous = match fs::symlink_metadata(&host) {
        Ok(meta) if meta.is_dir() => {
            return Err(failed(format!(
                "`{rel}` is a directory; give the path of a file inside it"
            )));
        }
        Ok(meta) => Some(meta.len()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(io_failed("write", &path, &err, true)),
    };
    if path.components.len() > 1
        && let Some(parent) = host.parent()
    {
        fs::create_dir_all(parent).map_err(|err| {
            let parent_path = WsPath {
                components: path.components[..path.components.len() - 1].to_vec(),
            };
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::AlreadyExists
                    | io::ErrorKind::NotADirectory
            ) {
                failed(format!(
                    "cannot create the directory `{}` for `{rel}`: part of it exists and is not \
                     a directory",
                    parent_path.relative()
                ))
            } else {
                io_failed("create the directories for", &path, &err, true)
            }
        })?;
    }
    fs::write(&host, args.content.as_bytes())
        .map_err(|err| io_failed("write", &path, &err, true))?;
    let n = args.content.len();
    Ok(ToolOutput::text(match previous {
        None => format!("Created `{rel}` ({}).", plural(n, "byte")),
        Some(old) => format!("Overwrote `{rel}` ({}; it had {old}).", plural(n, "byte")),
    }))
}

// ---- files_edit ------------------------------------------------------------------------------

fn edit(root: &Path, args: EditArgs) -> Result<ToolOutput, ToolError> {
    let path = checked(root, &args.path)?;
    let rel = path.relative();
    if args.old.is_empty() {
        return Err(ToolError::InvalidArguments(
            "`old` is empty; give the exact text to replace, copied from files_read (to replace \
             a whole file, use files_write)"
                .to_string(),
        ));
    }
    if args.old == args.new {
        return Err(ToolError::InvalidArguments(
            "`old` and `new` are the same, so there is nothing to change".to_string(),
        ));
    }
    let host = path.under(root);
    let meta = fs::metadata(&host).map_err(|err| io_failed("edit", &path, &err, false))?;
    if meta.is_dir() {
        return Err(failed(format!(
            "`{rel}` is a directory; files_edit changes a file"
        )));
    }
    if meta.len() > EDIT_MAX_BYTES {
        return Err(failed(format!(
            "`{rel}` is {} bytes, more than files_edit handles ({EDIT_MAX_BYTES} bytes); use \
             files_write to replace it whole",
            meta.len()
        )));
    }
    let bytes = fs::read(&host).map_err(|err| io_failed("read", &path, &err, false))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        failed(format!(
            "`{rel}` is not UTF-8 text, so it cannot be edited safely; use files_write to \
             replace it whole"
        ))
    })?;
    let found = occurrences(&text, &args.old, MAX_LISTED_MATCHES + 1);
    match found.as_slice() {
        [] => Err(failed(not_found_message(&text, &args.old, &rel))),
        [at] => {
            let mut updated = String::with_capacity(text.len() - args.old.len() + args.new.len());
            updated.push_str(&text[..*at]);
            updated.push_str(&args.new);
            updated.push_str(&text[at + args.old.len()..]);
            fs::write(&host, updated.as_bytes())
                .map_err(|err| io_failed("edit", &path, &err, true))?;
            Ok(ToolOutput::text(format!(
                "Replaced 1 occurrence in `{rel}` at line {}; the file is now {}.",
                line_of(&text, *at),
                plural(updated.len(), "byte")
            )))
        }
        many => {
            let lines: Vec<String> = many
                .iter()
                .take(MAX_LISTED_MATCHES)
                .map(|at| line_of(&text, *at).to_string())
                .collect();
            let count = if many.len() > MAX_LISTED_MATCHES {
                format!("more than {MAX_LISTED_MATCHES} times")
            } else {
                format!("{} times", many.len())
            };
            Err(failed(format!(
                "`old` is not unique: it occurs {count} in `{rel}` (starting at lines {}), and \
                 files_edit only replaces text that occurs exactly once. Include more of the \
                 surrounding lines in `old` so that it matches one place only",
                lines.join(", ")
            )))
        }
    }
}

/// Byte offsets where `needle` starts in `text`, overlapping matches included, at most `limit`.
fn occurrences(text: &str, needle: &str, limit: usize) -> Vec<usize> {
    let mut found = Vec::new();
    let mut from = 0;
    while found.len() < limit {
        let Some(i) = text[from..].find(needle) else {
            break;
        };
        let at = from + i;
        found.push(at);
        // The next match may overlap this one: search again from its second character.
        from = at + needle.chars().next().map_or(1, char::len_utf8);
    }
    found
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn not_found_message(text: &str, old: &str, rel: &str) -> String {
    let mut message = format!(
        "`old` was not found in `{rel}`, so nothing was changed. It must match the file exactly, \
         including whitespace, indentation and line breaks: read the file with files_read and \
         copy the text from it"
    );
    if old.contains('\n') && !old.contains("\r\n") && text.contains("\r\n") {
        let unix = text.replace("\r\n", "\n");
        if unix.contains(old) {
            message.push_str(
                ". The file uses Windows line endings (\\r\\n): write them in `old` and `new`",
            );
        }
    } else if old.trim() != old && !old.trim().is_empty() && text.contains(old.trim()) {
        message.push_str(
            ". Without its leading and trailing whitespace `old` does occur: check the spaces and \
             line breaks at its start and end",
        );
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, start: usize, end: Option<usize>, max: usize) -> Excerpt {
        read_lines(&mut io::Cursor::new(text.as_bytes()), start, end, max, true).unwrap()
    }

    #[test]
    fn whole_file_and_ranges() {
        let ex = lines("a\nb\nc\n", 1, None, 100);
        assert_eq!(ex.text, b"a\nb\nc\n");
        assert_eq!((ex.first, ex.last, ex.total_lines), (Some(1), 3, Some(3)));
        let ex = lines("a\nb\nc", 2, Some(3), 100);
        assert_eq!(ex.text, b"b\nc");
        assert_eq!((ex.first, ex.last, ex.total_lines), (Some(2), 3, Some(3)));
        let ex = lines("a\nb\nc\n", 4, None, 100);
        assert_eq!((ex.first, ex.total_lines), (None, Some(3)));
    }

    #[test]
    fn output_is_cut_at_a_line_boundary() {
        let ex = lines("0123\n4567\n89\n", 1, None, 7);
        assert_eq!(ex.text, b"0123\n");
        assert_eq!(ex.last, 1);
        assert!(matches!(ex.cut, Some(Cut::BeforeLine(2))));
        assert_eq!(ex.total_lines, Some(3));
        // One line over the limit on its own: its beginning, never half a character.
        let ex = lines("ééééé\nx\n", 1, None, 5);
        assert_eq!(ex.text, "éé".as_bytes());
        assert!(matches!(ex.cut, Some(Cut::InsideLine(1))));
    }

    #[test]
    fn occurrences_overlap_and_lines_count_from_one() {
        assert_eq!(occurrences("aaa", "aa", 5), vec![0, 1]);
        assert_eq!(occurrences("x ä x ä", "ä", 5), vec![2, 7]);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }

    #[test]
    fn not_found_explains_line_endings_and_whitespace() {
        let msg = not_found_message("a\r\nb\r\n", "a\nb", "f");
        assert!(msg.contains("Windows line endings"), "{msg}");
        let msg = not_found_message("let x = 1;", "  let x = 1;\n", "f");
        assert!(msg.contains("leading and trailing whitespace"), "{msg}");
        let msg = not_found_message("abc", "xyz", "f");
        assert!(msg.contains("was not found in `f`"), "{msg}");
    }
}
