use std::path::PathBuf;

/// What can go wrong in the workspace or with skills. Messages say what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{action} `{}` failed: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{0}` is not a usable workspace path: {1}")]
    InvalidPath(String, &'static str),

    #[error("`{0}` resolves outside the workspace; only files inside the workspace can be read")]
    OutsideWorkspace(String),

    #[error("`{0}` does not exist in the workspace")]
    NotFound(String),

    #[error("`{0}` is not a regular file")]
    NotAFile(String),

    #[error("`{path}` is {size} bytes; files over {max} bytes are not read whole")]
    TooLarge { path: String, size: u64, max: u64 },

    #[error("{year:04}-{month:02}-{day:02} is not a valid calendar date")]
    InvalidDate { year: i32, month: u32, day: u32 },

    #[error("`{0}` is not a time of day in HH:MM form (00:00 to 23:59)")]
    InvalidTime(String),

    #[error("a daily note entry must not be empty")]
    EmptyNote,

    #[error("a daily note entry is {size} bytes; entries are limited to {max} bytes")]
    NoteTooLarge { size: usize, max: usize },

    #[error("no skill named `{0}`; the available skills are listed in <available_skills>")]
    UnknownSkill(String),
}

impl WorkspaceError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| WorkspaceError::Io {
            action,
            path,
            source,
        }
    }
}
