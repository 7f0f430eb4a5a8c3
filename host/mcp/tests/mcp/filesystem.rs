//! server-filesystem (npm) over stdio, confined to a temporary directory given on its command
//! line (Chitin declares no roots, so the server keeps to that list).

use chitin_mcp::McpServerConfig;

use crate::support::{npm, start};

fn json_path(path: &std::path::Path) -> String {
    serde_json::to_string(&path.to_string_lossy()).expect("json")
}

#[tokio::test]
async fn the_filesystem_server_stays_in_its_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("another tempdir");
    std::fs::write(outside.path().join("secret.txt"), "outside data").expect("write");
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("link.txt"),
    )
    .expect("symlink");
    // The smallest PNG: 1x1, for read_media_file.
    let png: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0a, 0x49, 0x44,
        0x41, 0x54, 0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0,
        0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    std::fs::write(dir.path().join("dot.png"), png).expect("png");

    let config = McpServerConfig::stdio(
        npm().filesystem.to_string_lossy(),
        [dir.path().to_string_lossy().into_owned()],
    );
    let s = start(vec![("fs", config)], &[]).await;
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let names = s.tool_names();
    for tool in [
        "read_text_file",
        "write_file",
        "list_directory",
        "read_media_file",
    ] {
        assert!(names.contains(&format!("mcp__fs__{tool}")), "{names:?}");
    }

    let file = dir.path().join("notes.txt");
    let wrote = s
        .text(
            "mcp__fs__write_file",
            &format!(
                r#"{{"path":{},"content":"hello from chitin"}}"#,
                json_path(&file)
            ),
        )
        .await;
    assert!(wrote.contains("Successfully wrote"), "{wrote}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("written"),
        "hello from chitin"
    );
    assert_eq!(
        s.text(
            "mcp__fs__read_text_file",
            &format!(r#"{{"path":{}}}"#, json_path(&file))
        )
        .await,
        "hello from chitin"
    );
    let listing = s
        .text(
            "mcp__fs__list_directory",
            &format!(r#"{{"path":{}}}"#, json_path(dir.path())),
        )
        .await;
    assert!(listing.contains("[FILE] notes.txt"), "{listing}");

    let media = s
        .text(
            "mcp__fs__read_media_file",
            &format!(r#"{{"path":{}}}"#, json_path(&dir.path().join("dot.png"))),
        )
        .await;
    assert_eq!(media, format!("[image: image/png, {} bytes]", png.len()));

    // Outside the directory: directly, through `..`, and through a symlink.
    for path in [
        outside.path().join("secret.txt"),
        dir.path()
            .join("../")
            .join(
                outside
                    .path()
                    .strip_prefix(dir.path().parent().expect("parent"))
                    .expect("siblings in the temp dir"),
            )
            .join("secret.txt"),
        dir.path().join("link.txt"),
    ] {
        let result = s
            .servers
            .call(
                "mcp__fs__read_text_file",
                &format!(r#"{{"path":{}}}"#, json_path(&path)),
            )
            .await
            .expect("a result");
        assert!(result.is_error, "{path:?}: {}", result.text);
        assert!(
            result.text.contains("Access denied"),
            "{path:?}: {}",
            result.text
        );
        assert!(!result.text.contains("outside data"), "{}", result.text);
    }
    s.servers.shutdown().await;
}
