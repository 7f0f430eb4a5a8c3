//! `chitin plugin install|update|list|remove|sign|keygen|new`, run as an operator (and an
//! author) would: signatures, trust, consent, the lockfile, chitin.toml edits, URL installs
//! and project templates.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{plugin_path, repo_root};

/// One operator: a Chitin home and a scratch directory for keys, grants and plugin files.
struct Operator {
    home: tempfile::TempDir,
    work: tempfile::TempDir,
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Operator {
    fn new() -> Operator {
        Operator {
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Runs `chitin` with stdin closed (not a terminal: nobody there to answer questions).
    fn run(&self, args: &[&str]) -> Run {
        Command::new(env!("CARGO_BIN_EXE_chitin"))
            .args(args)
            .env("CHITIN_HOME", self.home())
            .env_remove("CHITIN_KEYRING")
            .env_remove("CHITIN_SECRETS_KEY")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert!(run.ok, "chitin {args:?} failed:\n{}", run.all());
        run
    }

    fn refused(&self, args: &[&str], expected: &str) -> Run {
        let run = self.run(args);
        assert!(
            !run.ok,
            "chitin {args:?} should have failed:\n{}",
            run.all()
        );
        assert!(
            run.all().contains(expected),
            "chitin {args:?}: expected {expected:?} in\n{}",
            run.all()
        );
        run
    }

    /// A new signing key in the scratch directory; returns its path and key id.
    fn keygen(&self, name: &str) -> (String, String) {
        let path = self.path(name);
        let run = self.ok(&["plugin", "keygen", "-o", path.to_str().unwrap()]);
        let key_id = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("key id:"))
            .expect("keygen prints the key id")
            .trim()
            .to_string();
        (path.to_str().unwrap().to_string(), key_id)
    }

    /// `file` copied to the scratch directory as `name` and signed with `key`.
    fn signed(&self, file: &Path, name: &str, key: &str, publisher: &str) -> String {
        let out = self.path(name);
        std::fs::copy(file, &out).unwrap();
        let out = out.to_str().unwrap().to_string();
        self.ok(&[
            "plugin",
            "sign",
            &out,
            "--key",
            key,
            "--publisher",
            publisher,
        ]);
        out
    }

    /// echo re-packed with its plugin.toml edited by `edit`: the way an author makes a new
    /// version.
    fn echo_variant(&self, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
        let manifest =
            std::fs::read_to_string(repo_root().join("plugins/tools/echo/plugin.toml")).unwrap();
        let toml = self.path(&format!("{name}.toml"));
        std::fs::write(&toml, edit(manifest)).unwrap();
        let out = self.path(name);
        let raw = repo_root().join("target/wasm32-wasip2/guest/echo_tool.wasm");
        self.ok(&[
            "plugin",
            "pack",
            toml.to_str().unwrap(),
            raw.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        out
    }

    /// A grant file.
    fn grant(&self, name: &str, toml: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, toml).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.home().join("chitin.toml")).unwrap_or_default()
    }

    fn lock(&self) -> toml::Table {
        toml::from_str(&std::fs::read_to_string(self.home().join("plugins.lock")).unwrap()).unwrap()
    }

    fn installed_file(&self, id: &str) -> PathBuf {
        self.home().join("plugins").join(format!("{id}.wasm"))
    }
}

/// echo with a new version and an extra requested host.
fn with_version(manifest: String, version: &str) -> String {
    manifest.replacen(
        "version = \"0.1.0\"",
        &format!("version = \"{version}\""),
        1,
    )
}

fn requesting(manifest: String, outbound: &str) -> String {
    format!("{manifest}\n[capabilities]\noutbound = [\"{outbound}\"]\n")
}

fn flip_byte(path: &Path, at_fraction: f64) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = (bytes.len() as f64 * at_fraction) as usize;
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn signed_plugin_installs_non_interactively_and_loads() {
    let op = Operator::new();
    // The operator's own config, with a comment that must survive.
    std::fs::write(
        op.home().join("chitin.toml"),
        "# my settings\n[gateway]\nport = 18789 # default\n",
    )
    .unwrap();
    let (key, key_id) = op.keygen("author.pk8");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private key must be private");
    }
    let echo = op.signed(&plugin_path("echo"), "echo.wasm", &key, "Echo Authors");
    let inspect = op.ok(&["plugin", "inspect", &echo]);
    assert!(
        inspect
            .stdout
            .contains(&format!("valid, by \"Echo Authors\" with key {key_id}")),
        "{}",
        inspect.stdout
    );
    let grant = op.grant("grant.toml", "");

    let run = op.ok(&[
        "plugin",
        "install",
        &echo,
        "--yes",
        "--grant",
        &grant,
        "--trust-key",
    ]);
    // What the operator was shown, in plain words.
    for expected in [
        "Echo 0.1.0 (echo)",
        &format!("signed by: Echo Authors (key {key_id}, trusted just now)"),
        "it requests:",
        "no capabilities requested",
        "echo: no side effects",
        "nothing: it runs with no access outside its sandbox",
        "CPU: up to 10,000,000 instructions",
        "memory: up to 16 MiB",
        "time: up to 2 s",
        "installed echo 0.1.0",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?}:\n{}",
            run.all()
        );
    }
    assert!(run.stderr.contains("compil"), "{}", run.stderr);

    // The file, the config section (comments kept), the lock entry, the trusted key.
    assert_eq!(
        std::fs::read(op.installed_file("echo")).unwrap(),
        std::fs::read(&echo).unwrap()
    );
    let config = op.config();
    assert!(
        config.starts_with("# my settings\n[gateway]\nport = 18789 # default\n"),
        "{config}"
    );
    assert!(
        config.contains("[plugins.echo]\npath = \"plugins/echo.wasm\""),
        "{config}"
    );
    assert!(config.contains("[plugins.echo.grant]"), "{config}");
    let lock = op.lock();
    let entry = &lock["plugins"]["echo"];
    assert_eq!(entry["version"].as_str(), Some("0.1.0"));
    assert_eq!(entry["signer"].as_str(), Some(key_id.as_str()));
    assert_eq!(entry["publisher"].as_str(), Some("Echo Authors"));
    assert_eq!(
        entry["sha256"].as_str().unwrap(),
        chitin_install::sha256_hex(&std::fs::read(&echo).unwrap())
    );
    assert!(entry["source"].as_str().unwrap().ends_with("echo.wasm"));
    assert!(entry["installed_at"].as_str().unwrap().ends_with('Z'));
    let trusted = std::fs::read_to_string(op.home().join("trusted-keys.toml")).unwrap();
    assert!(
        trusted.contains(&key_id) && trusted.contains("Echo Authors"),
        "{trusted}"
    );

    // It loads and answers, through chitin.toml like the gateway.
    let list = op.ok(&["tool", "list", "echo"]);
    assert!(
        list.stdout
            .contains("echo: Returns the given text unchanged."),
        "{}",
        list.stdout
    );
    let call = op.ok(&["tool", "call", "echo", "echo", r#"{"text":"installed!"}"#]);
    assert_eq!(call.stdout.trim(), "installed!");
    let verify = op.ok(&["plugin", "list", "--verify"]);
    assert!(
        verify.stdout.contains("echo 0.1.0  signed by Echo Authors"),
        "{}",
        verify.stdout
    );
    assert!(verify.stdout.contains("ok:"), "{}", verify.stdout);

    // Installing it again is refused; update is the way.
    op.refused(
        &["plugin", "install", &echo, "--yes", "--grant", &grant],
        "already installed",
    );

    // The key is now trusted: another plugin it signed needs no --trust-key.
    let two = op.echo_variant("echo-two.wasm", |m| {
        m.replacen("id = \"echo\"", "id = \"echo-two\"", 1)
    });
    let two = op.signed(&two, "echo-two-signed.wasm", &key, "Echo Authors");
    let run = op.ok(&["plugin", "install", &two, "--yes", "--grant", &grant]);
    assert!(run.stdout.contains("a trusted key"), "{}", run.stdout);
    let call = op.ok(&["tool", "call", "echo-two", "echo", r#"{"text":"two"}"#]);
    assert_eq!(call.stdout.trim(), "two");
}

#[test]
fn consent_is_required_and_grants_cannot_exceed_the_request() {
    let op = Operator::new();
    let (key, _) = op.keygen("k.pk8");
    let echo = op.signed(&plugin_path("echo"), "echo.wasm", &key, "Echo Authors");
    // Stdin is not a terminal: without --yes nobody can consent. What it requests is still shown.
    let run = op.refused(
        &["plugin", "install", &echo, "--trust-key"],
        "stdin is not a terminal",
    );
    assert!(run.stdout.contains("it requests:"), "{}", run.all());
    op.refused(
        &["plugin", "install", &echo, "--trust-key", "--yes"],
        "--yes needs --grant",
    );
    let wide = op.grant("wide.toml", "outbound = [\"https://example.com\"]\n");
    op.refused(
        &[
            "plugin",
            "install",
            &echo,
            "--trust-key",
            "--yes",
            "--grant",
            &wide,
        ],
        "wider than what it requested",
    );
    // Nothing was written.
    assert!(!op.installed_file("echo").exists());
    assert!(op.config().is_empty());
    assert!(!op.home().join("plugins.lock").exists());
    assert!(!op.home().join("trusted-keys.toml").exists());
}

#[test]
fn a_tampered_file_is_refused() {
    let op = Operator::new();
    let (key, _) = op.keygen("k.pk8");
    let echo = op.signed(&plugin_path("echo"), "echo.wasm", &key, "Echo Authors");
    // One bit of the code, after signing.
    flip_byte(Path::new(&echo), 0.5);
    let grant = op.grant("g.toml", "");
    op.refused(
        &[
            "plugin",
            "install",
            &echo,
            "--yes",
            "--grant",
            &grant,
            "--trust-key",
        ],
        "signature is invalid: the file was changed after it was signed",
    );
    assert!(!op.installed_file("echo").exists());
}

#[test]
fn a_signature_claiming_another_key_is_refused() {
    let op = Operator::new();
    let (key_a, _) = op.keygen("a.pk8");
    let (key_b, id_b) = op.keygen("b.pk8");
    // B is in the organisation's keyring: trusted.
    let b = chitin_install::SigningKey::from_file(Path::new(&key_b)).unwrap();
    let keyring = op.grant(
        "org-keyring.toml",
        &format!(
            "[keys.\"{id_b}\"]\npublisher = \"Org\"\npublic_key = \"{}\"\n",
            b.public_key_base64()
        ),
    );
    let grant = op.grant("g.toml", "");
    let signed_by_a = op.signed(&plugin_path("echo"), "echo.wasm", &key_a, "A");
    let wasm = std::fs::read(&signed_by_a).unwrap();
    let mut section = chitin_install::signature::read_section(&wasm)
        .unwrap()
        .unwrap();

    // A's signature presented as B's: B's id and B's public key.
    section.key_id = id_b.clone();
    section.public_key = b.public_key_base64();
    section.publisher = "Org".into();
    let forged = op.path("forged.wasm");
    std::fs::write(
        &forged,
        chitin_install::signature::replace_section(&wasm, &section).unwrap(),
    )
    .unwrap();
    op.refused(
        &[
            "plugin",
            "install",
            forged.to_str().unwrap(),
            "--yes",
            "--grant",
            &grant,
            "--keyring",
            &keyring,
        ],
        &format!("its signature is invalid: the file was changed after it was signed, or it was not signed by the key it names ({id_b}"),
    );

    // B's id with A's public key: the id does not match the key.
    let mut section = chitin_install::signature::read_section(&wasm)
        .unwrap()
        .unwrap();
    section.key_id = id_b.clone();
    let mismatched = op.path("mismatched.wasm");
    std::fs::write(
        &mismatched,
        chitin_install::signature::replace_section(&wasm, &section).unwrap(),
    )
    .unwrap();
    op.refused(
        &[
            "plugin",
            "install",
            mismatched.to_str().unwrap(),
            "--yes",
            "--grant",
            &grant,
            "--keyring",
            &keyring,
        ],
        &format!("claims key {id_b}, but the public key it carries is key"),
    );

    // Really signed by B: installs without --trust-key, trusted through the keyring.
    let by_b = op.signed(&plugin_path("echo"), "echo-b.wasm", &key_b, "Org");
    let run = op.ok(&[
        "plugin",
        "install",
        &by_b,
        "--yes",
        "--grant",
        &grant,
        "--keyring",
        &keyring,
    ]);
    assert!(run.stdout.contains("signed by: Org"), "{}", run.stdout);
    // A keyring's key is not copied into trusted-keys.toml.
    assert!(!op.home().join("trusted-keys.toml").exists());
}

#[test]
fn an_unknown_signer_needs_trust_key() {
    let op = Operator::new();
    let (key, key_id) = op.keygen("k.pk8");
    let (_, other_id) = op.keygen("other.pk8");
    let echo = op.signed(&plugin_path("echo"), "echo.wasm", &key, "Someone");
    let grant = op.grant("g.toml", "");
    let run = op.refused(
        &["plugin", "install", &echo, "--yes", "--grant", &grant],
        "signed by a key you have not trusted",
    );
    assert!(
        run.stderr.contains(&format!("--trust-key={key_id}")),
        "{}",
        run.stderr
    );
    op.refused(
        &[
            "plugin",
            "install",
            &echo,
            "--yes",
            "--grant",
            &grant,
            &format!("--trust-key={other_id}"),
        ],
        "signed by a different key",
    );
    op.ok(&[
        "plugin",
        "install",
        &echo,
        "--yes",
        "--grant",
        &grant,
        &format!("--trust-key={key_id}"),
    ]);
    assert_eq!(
        op.lock()["plugins"]["echo"]["signer"].as_str(),
        Some(key_id.as_str())
    );
}

#[test]
fn an_unsigned_plugin_needs_allow_unsigned() {
    let op = Operator::new();
    let echo = plugin_path("echo");
    let echo = echo.to_str().unwrap();
    let grant = op.grant("g.toml", "");
    op.refused(
        &["plugin", "install", echo, "--yes", "--grant", &grant],
        "it is not signed",
    );
    let run = op.ok(&[
        "plugin",
        "install",
        echo,
        "--yes",
        "--grant",
        &grant,
        "--allow-unsigned",
    ]);
    assert!(run.stdout.contains("signed by: NOBODY"), "{}", run.stdout);
    assert_eq!(
        op.lock()["plugins"]["echo"]["signer"].as_str(),
        Some("unsigned")
    );
    let call = op.ok(&["tool", "call", "echo", "echo", r#"{"text":"hi"}"#]);
    assert_eq!(call.stdout.trim(), "hi");
}

#[test]
fn an_update_that_asks_for_more_needs_consent_and_downgrades_are_refused() {
    let op = Operator::new();
    let (key, _) = op.keygen("k.pk8");
    let empty = op.grant("empty.toml", "");
    let v1 = op.signed(&plugin_path("echo"), "echo-1.wasm", &key, "Echo Authors");
    op.ok(&[
        "plugin",
        "install",
        &v1,
        "--yes",
        "--grant",
        &empty,
        "--trust-key",
    ]);

    // 0.2.0 requests a new host.
    let v2 = op.echo_variant("echo-2-unsigned.wasm", |m| {
        requesting(with_version(m, "0.2.0"), "https://api.example.com")
    });
    let v2 = op.signed(&v2, "echo-2.wasm", &key, "Echo Authors");
    let run = op.refused(
        &["plugin", "update", "echo", &v2],
        "asks for more than the installed one",
    );
    assert!(
        run.stdout
            .contains("+ new: connect to https://api.example.com (port 443)"),
        "the escalation is shown as a diff:\n{}",
        run.all()
    );
    op.refused(
        &["plugin", "update", "echo", &v2, "--yes"],
        "pass --grant FILE",
    );
    assert_eq!(
        op.lock()["plugins"]["echo"]["version"].as_str(),
        Some("0.1.0")
    );
    assert!(!op.config().contains("api.example.com"));

    // With consent and a grant naming the new host.
    let wider = op.grant("wider.toml", "outbound = [\"https://api.example.com\"]\n");
    op.ok(&["plugin", "update", "echo", &v2, "--yes", "--grant", &wider]);
    assert_eq!(
        op.lock()["plugins"]["echo"]["version"].as_str(),
        Some("0.2.0")
    );
    let config = op.config();
    assert!(
        config.contains("[plugins.echo.grant]\noutbound = [\"https://api.example.com\"]"),
        "{config}"
    );
    let call = op.ok(&["tool", "call", "echo", "echo", r#"{"text":"v2"}"#]);
    assert_eq!(call.stdout.trim(), "v2");

    // 0.3.0 asks for the same: no question, the grant is kept.
    let v3 = op.echo_variant("echo-3-unsigned.wasm", |m| {
        requesting(with_version(m, "0.3.0"), "https://api.example.com")
    });
    let v3 = op.signed(&v3, "echo-3.wasm", &key, "Echo Authors");
    let run = op.ok(&["plugin", "update", "echo", &v3]);
    assert!(
        run.stdout.contains("capabilities: unchanged"),
        "{}",
        run.stdout
    );
    assert!(
        op.config()
            .contains("outbound = [\"https://api.example.com\"]")
    );
    assert_eq!(
        op.lock()["plugins"]["echo"]["version"].as_str(),
        Some("0.3.0")
    );

    // Going back is refused unless asked for.
    op.refused(
        &["plugin", "update", "echo", &v1],
        "refusing to downgrade echo from 0.3.0 to 0.1.0",
    );
    // 0.1.0 only asks for less (no host): no question; the grant is narrowed to match.
    let run = op.ok(&["plugin", "update", "echo", &v1, "--allow-downgrade"]);
    assert!(
        run.stdout
            .contains("- no longer: connect to https://api.example.com (port 443)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("no longer requested"), "{}", run.stdout);
    assert!(!op.config().contains("api.example.com"), "{}", op.config());
    assert_eq!(
        op.lock()["plugins"]["echo"]["version"].as_str(),
        Some("0.1.0")
    );

    // More CPU is an escalation as well.
    let hungry = op.echo_variant("echo-4-unsigned.wasm", |m| {
        with_version(m, "0.4.0").replace("fuel = 10_000_000", "fuel = 50_000_000")
    });
    let hungry = op.signed(&hungry, "echo-4.wasm", &key, "Echo Authors");
    let run = op.refused(&["plugin", "update", "echo", &hungry], "asks for more");
    assert!(
        run.stdout
            .contains("^ wider: budget CPU 10,000,000 instructions → 50,000,000 instructions"),
        "{}",
        run.stdout
    );

    // Another plugin's file cannot replace echo.
    let other = op.echo_variant("other-unsigned.wasm", |m| {
        with_version(m.replacen("id = \"echo\"", "id = \"other\"", 1), "9.0.0")
    });
    let other = op.signed(&other, "other.wasm", &key, "Echo Authors");
    op.refused(
        &["plugin", "update", "echo", &other],
        "cannot change the plugin id",
    );
}

/// A one-file HTTP server on 127.0.0.1 serving `body` at `/echo.wasm` and 404 elsewhere.
fn serve(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&request);
            let response = if line.starts_with("GET /echo.wasm ") {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(&body);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&response);
        }
    });
    format!("http://127.0.0.1:{}", addr.port())
}

#[test]
fn install_from_a_url_checks_scheme_and_digest() {
    let op = Operator::new();
    let (key, _) = op.keygen("k.pk8");
    let echo = op.signed(&plugin_path("echo"), "echo.wasm", &key, "Echo Authors");
    let bytes = std::fs::read(&echo).unwrap();
    let digest = chitin_install::sha256_hex(&bytes);
    let base = serve(bytes);
    let url = format!("{base}/echo.wasm");
    let grant = op.grant("g.toml", "");
    let install = |extra: &[&str]| {
        let mut args = vec![
            "plugin",
            "install",
            url.as_str(),
            "--yes",
            "--grant",
            &grant,
            "--trust-key",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run_with = |extra: &[&str]| {
        let args = install(extra);
        op.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let run = run_with(&[]);
    assert!(!run.ok && run.all().contains("HTTPS only"), "{}", run.all());
    let wrong = "0".repeat(64);
    let run = run_with(&["--allow-http", "--sha256", &wrong]);
    assert!(
        !run.ok && run.all().contains("digest mismatch"),
        "{}",
        run.all()
    );
    assert!(!op.installed_file("echo").exists());
    let missing = op.run(&[
        "plugin",
        "install",
        &format!("{base}/nothing.wasm"),
        "--allow-http",
        "--yes",
        "--grant",
        &grant,
    ]);
    assert!(
        !missing.ok && missing.all().contains("404"),
        "{}",
        missing.all()
    );

    let run = run_with(&["--allow-http", "--sha256", &digest]);
    assert!(run.ok, "{}", run.all());
    assert_eq!(
        op.lock()["plugins"]["echo"]["source"].as_str(),
        Some(url.as_str())
    );
    let call = op.ok(&["tool", "call", "echo", "echo", r#"{"text":"from the web"}"#]);
    assert_eq!(call.stdout.trim(), "from the web");
}

#[test]
fn list_verify_says_why_a_plugin_would_not_load() {
    let op = Operator::new();
    let (key, _) = op.keygen("k.pk8");
    let echo = op.signed(&plugin_path("echo"), "echo.wasm", &key, "Echo Authors");
    let grant = op.grant("g.toml", "");
    op.ok(&[
        "plugin",
        "install",
        &echo,
        "--yes",
        "--grant",
        &grant,
        "--trust-key",
    ]);
    op.ok(&["plugin", "list", "--verify"]);

    // One bit of the installed file.
    flip_byte(&op.installed_file("echo"), 0.5);
    // Loading it for the agents (here: as an MCP server) refuses it outright.
    op.refused(&["mcp", "serve"], "changed since it was installed");
    let run = op.refused(&["plugin", "list", "--verify"], "tampered:");
    assert!(
        run.stdout.contains("signature: its signature is invalid"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("1 installed plugin(s) failed verification"),
        "{}",
        run.stderr
    );

    // Gone.
    std::fs::remove_file(op.installed_file("echo")).unwrap();
    op.refused(&["plugin", "list", "--verify"], "missing file:");

    // Put back, but chitin.toml edited to grant more than echo requests.
    std::fs::copy(&echo, op.installed_file("echo")).unwrap();
    op.ok(&["plugin", "list", "--verify"]);
    let config = op.config().replace(
        "[plugins.echo.grant]",
        "[plugins.echo.grant]\noutbound = [\"https://example.com\"]",
    );
    std::fs::write(op.home().join("chitin.toml"), config).unwrap();
    op.refused(&["plugin", "list", "--verify"], "grant refused:");
}

#[test]
fn remove_deletes_the_file_the_section_and_the_lock_entry() {
    let op = Operator::new();
    std::fs::write(
        op.home().join("chitin.toml"),
        "# keep me\n[limits]\nmax_concurrent_runs = 2\n",
    )
    .unwrap();
    let echo = plugin_path("echo");
    let grant = op.grant("g.toml", "");
    op.ok(&[
        "plugin",
        "install",
        echo.to_str().unwrap(),
        "--yes",
        "--grant",
        &grant,
        "--allow-unsigned",
    ]);
    assert!(op.installed_file("echo").exists());
    op.refused(&["plugin", "remove", "echo"], "re-run with --yes");
    assert!(op.installed_file("echo").exists());
    op.ok(&["plugin", "remove", "echo", "--yes"]);
    assert!(!op.installed_file("echo").exists());
    assert_eq!(
        op.config(),
        "# keep me\n[limits]\nmax_concurrent_runs = 2\n"
    );
    assert!(op.lock()["plugins"].as_table().unwrap().is_empty());
    op.refused(&["plugin", "remove", "echo", "--yes"], "no plugin `echo`");
    op.refused(&["tool", "list", "echo"], "no plugin `echo`");
}

#[test]
fn new_rust_project_builds_packs_and_loads() {
    let op = Operator::new();
    // Inside the checkout, so chitin-sdk comes from it by path.
    let parent = tempfile::Builder::new()
        .prefix("plugin-new-")
        .tempdir_in(repo_root().join("target"))
        .unwrap();
    let dir = parent.path().join("hello-world");
    let run = op.ok(&[
        "plugin",
        "new",
        "Hello World",
        "--lang",
        "rust",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        run.stdout.contains("created Hello World (hello-world)"),
        "{}",
        run.stdout
    );
    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let sdk = std::fs::canonicalize(repo_root()).unwrap().join("sdk/rust");
    assert!(
        cargo.contains(&format!("chitin-sdk = {{ path = \"{}\"", sdk.display())),
        "{cargo}"
    );
    assert!(!dir.join("Cargo.toml.tmpl").exists());

    // Built as its README says; the workspace's Cargo.lock pins the same crates the repository
    // builds with, so this works offline.
    std::fs::copy(repo_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = repo_root().join("target/plugin-new-build");
    let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--offline",
            "--target",
            "wasm32-wasip2",
            "--release",
        ])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let built = target.join("wasm32-wasip2/release/hello_world.wasm");
    let packed = op.path("hello-world.wasm");
    op.ok(&[
        "plugin",
        "pack",
        dir.join("plugin.toml").to_str().unwrap(),
        built.to_str().unwrap(),
        "-o",
        packed.to_str().unwrap(),
    ]);
    let (key, _) = op.keygen("k.pk8");
    let signed = op.signed(&packed, "hello-world-signed.wasm", &key, "Me");
    let grant = op.grant("g.toml", "");
    op.ok(&[
        "plugin",
        "install",
        &signed,
        "--yes",
        "--grant",
        &grant,
        "--trust-key",
    ]);
    let list = op.ok(&["tool", "list", "hello-world"]);
    assert!(
        list.stdout.contains("hello_world: Greets someone by name."),
        "{}",
        list.stdout
    );
    let call = op.ok(&[
        "tool",
        "call",
        "hello-world",
        "hello_world",
        r#"{"name":"Ada"}"#,
    ]);
    assert_eq!(call.stdout.trim(), "Hello, Ada!");
}

#[test]
fn new_writes_every_language_s_template_with_substitutions() {
    let op = Operator::new();
    for lang in ["rust", "python", "js", "c"] {
        let dir = op.path(&format!("weather-{lang}"));
        let run = op.run(&[
            "plugin",
            "new",
            "Weather Now",
            "--lang",
            lang,
            "--dir",
            dir.to_str().unwrap(),
        ]);
        if !run.ok
            && run
                .stderr
                .contains(&format!("built without a {lang} template"))
        {
            eprintln!("{lang}: no template in this build yet; skipped");
            continue;
        }
        assert!(run.ok, "{lang}: {}", run.all());
        let mut files = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        assert!(!files.is_empty(), "{lang}: no files written");
        for file in &files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for placeholder in ["{{id}}", "{{name}}", "{{id_snake}}", "{{wit_version}}"] {
                assert!(
                    !text.contains(placeholder),
                    "{lang}: {} keeps {placeholder}",
                    file.display()
                );
            }
        }
        // Where a template has a plugin.toml, it is a valid manifest for the new plugin.
        if let Ok(text) = std::fs::read_to_string(dir.join("plugin.toml")) {
            let manifest = chitin_manifest::Manifest::from_toml(&text)
                .unwrap_or_else(|err| panic!("{lang}: plugin.toml: {err}\n{text}"));
            assert_eq!(manifest.id, "weather-now", "{lang}");
            assert_eq!(manifest.name, "Weather Now", "{lang}");
        }
    }
    op.refused(
        &["plugin", "new", "x", "--lang", "rust", "--kind", "provider"],
        "no template for --kind provider",
    );
    op.refused(
        &["plugin", "new", "x", "--lang", "cobol"],
        "unknown language",
    );
    // Never into a directory that has something in it.
    let taken = op.path("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("file"), "x").unwrap();
    op.refused(
        &[
            "plugin",
            "new",
            "x",
            "--lang",
            "rust",
            "--dir",
            taken.to_str().unwrap(),
        ],
        "not an empty directory",
    );
}
