//! Path arguments: relative to the workspace root, never out of it.
//!
//! The host's WASI preopen already confines every file operation to the granted directory (it
//! resolves paths beneath a capability handle, so `..` and symlinks cannot leave it). These
//! checks come first so that the model is told plainly what is wrong and what to do instead,
//! rather than getting a bare "operation not permitted".

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

/// Symbolic links followed while resolving one path before giving up (Linux uses 40 too).
const MAX_SYMLINK_HOPS: usize = 40;

/// A path argument that stays inside the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsPath {
    /// Components below the root with every symbolic link resolved (as far as the path
    /// exists); empty for the root itself.
    pub components: Vec<String>,
}

impl WsPath {
    /// The path relative to the root, as the model should write it (`.` for the root).
    pub fn relative(&self) -> String {
        if self.components.is_empty() {
            ".".to_string()
        } else {
            self.components.join("/")
        }
    }

    /// Where it is under `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut path = root.to_path_buf();
        path.extend(&self.components);
        path
    }

    /// The path of `name` inside this directory.
    pub fn child(&self, name: &str) -> WsPath {
        let mut components = self.components.clone();
        components.push(name.to_string());
        WsPath { components }
    }
}

/// Splits a path argument into components, refusing absolute paths and `..`. `""` and `.` are
/// the root.
pub fn lexical(arg: &str) -> Result<Vec<String>, String> {
    if arg.contains('\0') {
        return Err(format!(
            "path {arg:?} contains a NUL character; pass a plain relative path such as \
             `src/main.rs`"
        ));
    }
    let bytes = arg.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if arg.starts_with('/') || arg.starts_with('\\') || drive {
        return Err(format!(
            "path `{arg}` is absolute; paths are relative to the workspace root: write \
             `src/main.rs`, not `/src/main.rs` or `/workspace/src/main.rs` (and `.` for the root \
             itself)"
        ));
    }
    if arg == "~" || arg.starts_with("~/") {
        return Err(format!(
            "path `{arg}` starts with `~`, which is not expanded: this tool only sees the \
             workspace, so write the path relative to the workspace root"
        ));
    }
    let mut components = Vec::new();
    for part in arg.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "path `{arg}` contains `..`; this tool only reaches files inside the \
                     workspace, and a path may not step out of a directory. Write the path \
                     relative to the workspace root without `..` (use files_list on `.` to see \
                     what is there)"
                ));
            }
            part => components.push(part.to_string()),
        }
    }
    Ok(components)
}

/// Why a path was refused after looking at the file system.
#[derive(Debug)]
pub enum Refusal {
    /// A symbolic link on the way points outside the workspace.
    Outside {
        arg: String,
        link: String,
    },
    TooManyLinks {
        arg: String,
    },
    /// A component in the middle of the path is a file.
    NotADirectory {
        arg: String,
        file: String,
    },
    Io {
        arg: String,
        err: io::Error,
    },
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Outside { arg, link } if arg == link => format!(
                "`{arg}` is a symbolic link that points outside the workspace; this tool only \
                 reads and writes files inside the workspace, so it will not follow it. Use a \
                 path to a real file inside the workspace"
            ),
            Refusal::Outside { arg, link } => format!(
                "`{arg}` goes through `{link}`, a symbolic link that points outside the \
                 workspace; this tool only reads and writes files inside the workspace, so it \
                 will not follow it. Use a path to a real file inside the workspace"
            ),
            Refusal::TooManyLinks { arg } => format!(
                "`{arg}` goes through more than {MAX_SYMLINK_HOPS} symbolic links (a loop?); use \
                 the real path of the file"
            ),
            Refusal::NotADirectory { arg, file } => format!(
                "`{file}` is a file, not a directory, so `{arg}` cannot exist; use files_list to \
                 see what is there"
            ),
            Refusal::Io { arg, err } => format!("cannot look up `{arg}`: {err}"),
        }
    }
}

/// Checks `arg` and resolves the symbolic links along it beneath `root`, refusing any that
/// leads out of the workspace. Components that do not exist yet (a file about to be written)
/// are kept as they are.
pub fn resolve(root: &Path, arg: &str, components: Vec<String>) -> Result<WsPath, Refusal> {
    let mut resolved: Vec<String> = Vec::new();
    let mut pending: VecDeque<String> = components.into();
    let mut hops = 0;
    let mut missing = false;
    while let Some(part) = pending.pop_front() {
        // `..` only arrives here from a symlink's target, relative to the link's directory.
        if part == ".." {
            if resolved.pop().is_none() {
                return Err(Refusal::Outside {
                    arg: arg.to_string(),
                    link: arg.to_string(),
                });
            }
            continue;
        }
        resolved.push(part);
        if missing {
            continue;
        }
        let here = WsPath {
            components: resolved.clone(),
        }
        .under(root);
        match std::fs::symlink_metadata(&here) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Refusal::TooManyLinks {
                        arg: arg.to_string(),
                    });
                }
                let link = resolved.join("/");
                resolved.pop();
                let outside = Refusal::Outside {
                    arg: arg.to_string(),
                    link,
                };
                let target = match std::fs::read_link(&here) {
                    Ok(target) => target,
                    // The preopen will not even read a link whose target lies outside it.
                    Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
                        return Err(outside);
                    }
                    Err(err) => {
                        return Err(Refusal::Io {
                            arg: arg.to_string(),
                            err,
                        });
                    }
                };
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    return Err(outside);
                }
                let mut next: VecDeque<String> = target
                    .split('/')
                    .filter(|p| !p.is_empty() && *p != ".")
                    .map(str::to_string)
                    .collect();
                // A relative target is resolved from the link's directory: check it cannot
                // climb above the root before following it.
                let mut depth = resolved.len() as isize;
                for p in &next {
                    depth += if p == ".." { -1 } else { 1 };
                    if depth < 0 {
                        return Err(outside);
                    }
                }
                next.extend(pending);
                pending = next;
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => missing = true,
            Err(err) if err.kind() == io::ErrorKind::NotADirectory => {
                return Err(Refusal::NotADirectory {
                    arg: arg.to_string(),
                    file: resolved[..resolved.len().saturating_sub(1)].join("/"),
                });
            }
            Err(err) => {
                return Err(Refusal::Io {
                    arg: arg.to_string(),
                    err,
                });
            }
        }
    }
    Ok(WsPath {
        components: resolved,
    })
}

/// Whether the symbolic link at `link` (inside `dir`, both under the root) points outside
/// the workspace, judged from its target alone.
pub fn link_leaves(dir: &WsPath, target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut depth = dir.components.len() as isize;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_split_into_components() {
        assert_eq!(lexical("").unwrap(), Vec::<String>::new());
        assert_eq!(lexical(".").unwrap(), Vec::<String>::new());
        assert_eq!(lexical("./src//main.rs/").unwrap(), vec!["src", "main.rs"]);
    }

    #[test]
    fn escapes_are_refused_with_a_fix() {
        for arg in ["/etc/passwd", "/workspace/a", "\\x", "C:\\x", "c:/x"] {
            let err = lexical(arg).unwrap_err();
            assert!(err.contains("is absolute"), "{arg}: {err}");
            assert!(
                err.contains("relative to the workspace root"),
                "{arg}: {err}"
            );
        }
        for arg in ["..", "../x", "a/../../x", "a/.."] {
            let err = lexical(arg).unwrap_err();
            assert!(err.contains("contains `..`"), "{arg}: {err}");
        }
        assert!(lexical("~/x").unwrap_err().contains("not expanded"));
        assert!(lexical("a\0b").unwrap_err().contains("NUL"));
    }

    #[test]
    fn links_leaving_the_root_are_recognised() {
        let root = WsPath { components: vec![] };
        let sub = WsPath {
            components: vec!["a".into()],
        };
        assert!(link_leaves(&root, "/etc"));
        assert!(link_leaves(&root, "../x"));
        assert!(!link_leaves(&sub, "../x"));
        assert!(link_leaves(&sub, "../../x"));
        assert!(!link_leaves(&sub, "b/./c"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_resolved_inside_and_refused_outside() {
        use std::os::unix::fs::symlink;
        let base = std::env::temp_dir().join(format!("files-tool-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("ws");
        std::fs::create_dir_all(root.join("dir/sub")).unwrap();
        std::fs::write(root.join("dir/sub/f.txt"), "x").unwrap();
        std::fs::write(base.join("secret.txt"), "no").unwrap();
        symlink("dir/sub", root.join("inner")).unwrap();
        symlink("sub/f.txt", root.join("dir/up")).unwrap();
        symlink("../dir/sub/f.txt", root.join("dir/up2")).unwrap();
        symlink("../secret.txt", root.join("rel-out")).unwrap();
        symlink(base.join("secret.txt"), root.join("abs-out")).unwrap();
        symlink("../../secret.txt", root.join("dir/deep-out")).unwrap();
        symlink("loop", root.join("loop")).unwrap();

        let ok = |arg: &str| resolve(&root, arg, lexical(arg).unwrap()).map(|p| p.relative());
        assert_eq!(ok("inner/f.txt").unwrap(), "dir/sub/f.txt");
        assert_eq!(ok("dir/up").unwrap(), "dir/sub/f.txt");
        assert_eq!(ok("dir/up2").unwrap(), "dir/sub/f.txt");
        assert_eq!(ok("new/dir/file").unwrap(), "new/dir/file");
        for arg in ["rel-out", "abs-out", "dir/deep-out", "abs-out/x"] {
            let err = ok(arg).unwrap_err();
            assert!(
                matches!(err, Refusal::Outside { .. }),
                "{arg}: {}",
                err.message()
            );
            assert!(err.message().contains("outside the workspace"));
        }
        assert!(matches!(
            ok("loop").unwrap_err(),
            Refusal::TooManyLinks { .. }
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
