//! The `chitin` binary, run as a user would.

use std::process::{Command, Output, Stdio};

use crate::common::{plugin_path, repo_root};

fn chitin(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(args)
        .env("CHITIN_HOME", home)
        .env_remove("CHITIN_SECRETS_KEY")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn plugin_inspect_prints_the_manifest_without_running_it() {
    let home = tempfile::tempdir().unwrap();
    let out = chitin(
        home.path(),
        &[
            "plugin",
            "inspect",
            plugin_path("web-fetch").to_str().unwrap(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("Web fetch 0.1.0 (web-fetch)"), "{stdout}");
    assert!(stdout.contains("kind:        tool"), "{stdout}");
    assert!(stdout.contains("sha256:"), "{stdout}");
    assert!(stdout.contains("memory: 64 MiB"), "{stdout}");

    let json = chitin(
        home.path(),
        &[
            "plugin",
            "inspect",
            "--json",
            plugin_path("echo").to_str().unwrap(),
        ],
    );
    let manifest: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(manifest["id"], "echo");

    let raw = repo_root().join("target/wasm32-wasip2/guest/echo_tool.wasm");
    let out = chitin(home.path(), &["plugin", "inspect", raw.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("chitin plugin pack"),
        "{}",
        text(&out.stderr)
    );

    let not_wasm = home.path().join("x.wasm");
    std::fs::write(&not_wasm, b"hello").unwrap();
    let out = chitin(
        home.path(),
        &["plugin", "inspect", not_wasm.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a WebAssembly"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn plugin_pack_embeds_a_manifest() {
    let home = tempfile::tempdir().unwrap();
    let packed = home.path().join("echo.wasm");
    let raw = repo_root().join("target/wasm32-wasip2/guest/echo_tool.wasm");
    let manifest = repo_root().join("plugins/tools/echo/plugin.toml");
    let out = chitin(
        home.path(),
        &[
            "plugin",
            "pack",
            manifest.to_str().unwrap(),
            raw.to_str().unwrap(),
            "-o",
            packed.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let inspect = chitin(
        home.path(),
        &["plugin", "inspect", "--json", packed.to_str().unwrap()],
    );
    assert!(inspect.status.success());

    let bad = home.path().join("bad.toml");
    std::fs::write(&bad, "id = \"Bad Id\"\n").unwrap();
    let out = chitin(
        home.path(),
        &[
            "plugin",
            "pack",
            bad.to_str().unwrap(),
            raw.to_str().unwrap(),
            "-o",
            packed.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn tool_call_runs_in_the_sandbox_with_the_configured_grant() {
    let home = tempfile::tempdir().unwrap();
    let echo = plugin_path("echo");
    let out = chitin(
        home.path(),
        &[
            "tool",
            "call",
            echo.to_str().unwrap(),
            "echo",
            r#"{"text":"hi there"}"#,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi there\n");

    // Configured by id, with a grant; the hostile plugin's loop is stopped with a typed error.
    std::fs::write(
        home.path().join("chitin.toml"),
        format!(
            "[plugins.hostile]\npath = \"{}\"\n[plugins.hostile.grant.budgets]\ntimeout_ms = 200\nfuel = 40_000_000_000\n",
            plugin_path("hostile").display()
        ),
    )
    .unwrap();
    let out = chitin(home.path(), &["tool", "call", "hostile", "spin"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[deadline_exceeded]") && stderr.contains("200ms"),
        "{stderr}"
    );

    let out = chitin(home.path(), &["tool", "list", "hostile"]);
    assert!(
        text(&out.stdout).contains("spin: Loops forever."),
        "{}",
        text(&out.stdout)
    );

    let out = chitin(home.path(), &["tool", "call", "nope", "x"]);
    assert!(
        text(&out.stderr).contains("no plugin `nope`"),
        "{}",
        text(&out.stderr)
    );
    let out = chitin(
        home.path(),
        &["tool", "call", echo.to_str().unwrap(), "echo", "{not json"],
    );
    assert!(
        text(&out.stderr).contains("must be JSON"),
        "{}",
        text(&out.stderr)
    );

    // A typo in the config names the key and the line.
    std::fs::write(
        home.path().join("chitin.toml"),
        "[plugins.echo]\npath = \"x.wasm\"\ngrnat = {}\n",
    )
    .unwrap();
    let out = chitin(home.path(), &["tool", "call", "echo", "echo"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("grnat") && stderr.contains("line 3"),
        "{stderr}"
    );
}

#[test]
fn secrets_are_stored_encrypted_and_never_listed() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["secrets", "set", "OPENAI_API_KEY"])
        .env("CHITIN_HOME", home.path())
        .env_remove("CHITIN_SECRETS_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sk-very-secret-value-123\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let list = chitin(home.path(), &["secrets", "list"]);
    let stdout = text(&list.stdout);
    assert!(
        stdout.contains("OPENAI_API_KEY") && !stdout.contains("sk-very"),
        "{stdout}"
    );
    let on_disk = std::fs::read(home.path().join("secrets.enc")).unwrap();
    assert!(
        !text(&on_disk).contains("sk-very-secret-value-123"),
        "stored in plaintext"
    );
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(home.path().join("secrets.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);

    assert!(
        chitin(home.path(), &["secrets", "rm", "OPENAI_API_KEY"])
            .status
            .success()
    );
    let out = chitin(home.path(), &["secrets", "rm", "OPENAI_API_KEY"]);
    assert!(!out.status.success());
    assert!(text(&chitin(home.path(), &["secrets", "list"]).stdout).contains("no secrets"));
}
