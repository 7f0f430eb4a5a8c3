use super::{HEADER, doc_example, manifest};
use crate::{
    Access, Capabilities, InjectAt, Language, Manifest, ManifestError, PluginKind,
    WebhookVerification,
};

fn example() -> Manifest {
    Manifest::from_toml(&doc_example()).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn minimal_manifest_gets_defaults() {
    let m = manifest("");
    assert_eq!(m.id, "x");
    assert_eq!(m.kind, PluginKind::Tool);
    assert_eq!(m.language, Language::Rust);
    assert!(m.capabilities.is_empty());
    assert_eq!(m.budgets, crate::Budgets::default());
    assert_eq!(m.describe_capabilities(), vec!["no capabilities requested"]);
}

#[test]
fn doc_example_uses_every_field() {
    let m = example();
    let caps = &m.capabilities;
    assert_eq!(m.kind, PluginKind::Channel);
    assert!(!caps.outbound.is_empty() && !caps.allow_private.is_empty());
    assert!(!caps.websocket.is_empty() && !caps.files.is_empty() && !caps.config.is_empty());
    assert_eq!(caps.secrets[0].inject, vec![InjectAt::Path]);
    assert_eq!(caps.kv.as_ref().map(|k| k.quota_bytes), Some(1 << 20));
    assert_eq!(caps.files[0].access, Access::ReadWrite);
    assert!(caps.config[0].required);
    assert_eq!(
        caps.webhook.as_ref().map(|w| &w.verification),
        Some(&WebhookVerification::SecretToken {
            header: "X-Telegram-Bot-Api-Secret-Token".into()
        })
    );
    let b = &m.budgets;
    assert!(
        b.fuel.is_some()
            && b.memory_mb.is_some()
            && b.timeout_ms.is_some()
            && b.max_output_kb.is_some()
            && b.max_host_calls.is_some()
            && b.max_http_requests.is_some()
            && b.max_response_kb.is_some()
    );
}

#[test]
fn toml_and_json_round_trip() {
    let m = example();
    let json = m.to_json();
    assert_eq!(json, m.to_json(), "stable output");
    assert!(
        json.starts_with(r#"{"id":"telegram","name":"Telegram","version":"1.2.0""#),
        "{json}"
    );
    assert!(!json.contains('\n'), "compact");
    assert_eq!(Manifest::from_json(json.as_bytes()).unwrap(), m);

    let toml_text = toml::to_string(&m).unwrap();
    assert_eq!(Manifest::from_toml(&toml_text).unwrap(), m, "{toml_text}");

    let minimal = manifest("");
    assert_eq!(
        Manifest::from_json(minimal.to_json().as_bytes()).unwrap(),
        minimal
    );
    assert!(
        !minimal.to_json().contains("capabilities"),
        "empty sections are omitted"
    );
}

#[test]
fn webhook_variants_parse() {
    let hmac = manifest(
        r#"
[capabilities.webhook]
secret = "SLACK_SIGNING_SECRET"
verification = { type = "hmac-sha256", signature_header = "X-Slack-Signature", timestamp_header = "X-Slack-Request-Timestamp", signature_prefix = "v0=" }
"#,
    );
    let Some(webhook) = &hmac.capabilities.webhook else {
        panic!("webhook missing")
    };
    assert_eq!(
        webhook.verification,
        WebhookVerification::HmacSha256 {
            signature_header: "X-Slack-Signature".into(),
            timestamp_header: Some("X-Slack-Request-Timestamp".into()),
            window_secs: 300,
            signature_prefix: "v0=".into(),
        }
    );
    assert_eq!(
        Manifest::from_json(hmac.to_json().as_bytes()).unwrap(),
        hmac
    );
    let hub = manifest(
        "[capabilities.webhook]\nsecret = \"META_APP_SECRET\"\nverification = { type = \"hub-signature-256\" }\n",
    );
    assert_eq!(
        hub.capabilities.webhook.map(|w| w.verification),
        Some(WebhookVerification::HubSignature256)
    );
}

#[test]
fn toml_errors_keep_line_and_column() {
    let cases = [
        ("bogus = 1\n", "unknown field `bogus`"),
        ("[capabilities]\nnetwork = []\n", "unknown field `network`"),
        ("[budgets]\ncpu = 1\n", "unknown field `cpu`"),
        (
            "[capabilities.webhook]\nsecret = \"S\"\nverification = { type = \"secret-token\", header = \"X\", extra = 1 }\n",
            "unknown field `extra`",
        ),
        (
            "[capabilities.webhook]\nsecret = \"S\"\nverification = { type = \"basic-auth\" }\n",
            "unknown variant `basic-auth`",
        ),
        (
            "[[capabilities.secrets]]\nname = \"T\"\nhosts = [\"https://a.com\"]\ninject = [\"cookie\"]\n",
            "unknown variant `cookie`",
        ),
        (
            "[[capabilities.files]]\npath = \"/w\"\naccess = \"write\"\n",
            "unknown variant `write`",
        ),
        ("[budgets]\nfuel = -1\n", "expected u64"),
    ];
    for (rest, expected) in cases {
        let text = format!("{HEADER}{rest}");
        let err = Manifest::from_toml(&text).expect_err(rest);
        assert!(matches!(err, ManifestError::Toml(_)), "{rest}: {err:?}");
        let message = err.to_string();
        assert!(message.contains(expected), "{rest}: {message}");
        assert!(
            message.contains("line"),
            "{rest}: no line number in {message}"
        );
    }
    let wrong_kind = HEADER.replace("\"tool\"", "\"plugin\"");
    let err = Manifest::from_toml(&wrong_kind).unwrap_err().to_string();
    assert!(
        err.contains("unknown variant `plugin`") && err.contains("mcp-bridge"),
        "{err}"
    );
    let missing = HEADER.replace("description = \"d\"\n", "");
    let err = Manifest::from_toml(&missing).unwrap_err().to_string();
    assert!(err.contains("missing field `description`"), "{err}");
}

#[test]
fn json_errors_name_the_problem() {
    let err = Manifest::from_json(b"{\"id\": 1}").unwrap_err();
    assert!(matches!(err, ManifestError::Json(_)));
    assert!(err.to_string().contains("invalid type"), "{err}");
    let err = Manifest::from_json(b"not json").unwrap_err();
    assert!(err.to_string().contains("chitin plugin pack"), "{err}");
}

/// Applies `change` to the example, then expects validation to fail naming `field`, mentioning
/// `text`.
fn refused(change: impl FnOnce(&mut Manifest), field: &str, text: &str) {
    let mut m = example();
    change(&mut m);
    let err = m
        .validate()
        .expect_err(&format!("{field} should be refused"));
    let message = err.to_string();
    assert!(message.contains(field), "expected field {field}: {message}");
    assert!(message.contains(text), "expected {text:?}: {message}");
    // The same manifest, embedded, is refused the same way on the way back in.
    let json = serde_json::to_string(&m).unwrap();
    assert!(Manifest::from_json(json.as_bytes()).is_err());
}

#[test]
fn identity_fields_are_validated() {
    for bad in ["", "Web", "-x", "a_b", "a.b", &"a".repeat(64)] {
        refused(|m| m.id = bad.to_string(), "`id`", "lowercase letters");
    }
    for good in ["a", "0", "web-fetch", &"a".repeat(63)] {
        let mut m = example();
        m.id = good.to_string();
        m.validate().unwrap();
    }
    refused(|m| m.name = " ".into(), "`name`", "must not be empty");
    refused(
        |m| m.name = "Nice\u{1b}[2JPlugin".into(),
        "`name`",
        "control character",
    );
    refused(
        |m| m.description = "ok\u{1b}[1A".into(),
        "`description`",
        "control character",
    );
    let mut multi_line = example();
    multi_line.description = "line one\nline two".into();
    multi_line.validate().unwrap();
    refused(
        |m| m.version = "1.0".into(),
        "`version`",
        "semantic version",
    );
    refused(|m| m.version = "v1.0.0".into(), "`version`", "1.2.3");
    let mut pre = example();
    pre.version = "1.0.0-beta.1+build.5".into();
    pre.validate().unwrap();
    refused(
        |m| m.wit_version = "latest".into(),
        "`wit_version`",
        "chitin:plugin",
    );
}

#[test]
fn network_capabilities_are_validated() {
    refused(
        |m| m.capabilities.outbound = vec!["api.example.com".into()],
        "capabilities.outbound[0]",
        "write https://api.example.com",
    );
    refused(
        |m| m.capabilities.outbound.push("wss://a.com".into()),
        "capabilities.outbound[3]",
        "websocket hosts go in capabilities.websocket",
    );
    refused(
        |m| {
            m.capabilities.outbound = vec![
                "https://api.telegram.org".into(),
                "https://API.telegram.org:443".into(),
            ]
        },
        "capabilities.outbound[1]",
        "listed twice",
    );
    refused(
        |m| m.capabilities.allow_private = vec!["10.0.0.1/8".into()],
        "capabilities.allow_private[0]",
        "write 10.0.0.0/8",
    );
    refused(
        |m| m.capabilities.allow_private = vec!["localnet".into()],
        "capabilities.allow_private[0]",
        "CIDR",
    );
    refused(
        |m| m.capabilities.allow_private = vec!["10.0.0.0/8".into(), "10.0.0.0/8".into()],
        "capabilities.allow_private[1]",
        "listed twice",
    );
    refused(
        |m| m.capabilities.websocket = vec!["https://stream.telegram.org".into()],
        "capabilities.websocket[0]",
        "ws, wss",
    );
    let mut single = example();
    single.capabilities.allow_private = vec!["127.0.0.1".into(), "::1".into()];
    single.validate().unwrap();
}

#[test]
fn secrets_are_validated() {
    refused(
        |m| m.capabilities.secrets[0].name = "BAD NAME".into(),
        "capabilities.secrets[0].name",
        "TELEGRAM_TOKEN",
    );
    refused(
        |m| {
            let again = m.capabilities.secrets[0].clone();
            m.capabilities.secrets.push(again);
        },
        "capabilities.secrets[1].name",
        "listed twice",
    );
    refused(
        |m| m.capabilities.secrets[0].hosts.clear(),
        "capabilities.secrets[0].hosts",
        "say which hosts",
    );
    refused(
        |m| m.capabilities.secrets[0].hosts = vec!["api.telegram.org".into()],
        "capabilities.secrets[0].hosts[0]",
        "write https://api.telegram.org",
    );
    refused(
        |m| m.capabilities.secrets[0].hosts = vec!["https://evil.example".into()],
        "capabilities.secrets[0].hosts[0]",
        "add it to capabilities.outbound",
    );
    refused(
        |m| m.capabilities.secrets[0].inject.clear(),
        "capabilities.secrets[0].inject",
        "\"header\"",
    );
    refused(
        |m| m.capabilities.secrets[0].inject = vec![InjectAt::Header, InjectAt::Header],
        "capabilities.secrets[0].inject",
        "listed twice",
    );
    // An audience reached over a websocket request is fine.
    let mut ws = example();
    ws.capabilities.secrets[0].hosts = vec!["wss://stream.telegram.org".into()];
    ws.validate().unwrap();
}

#[test]
fn storage_and_config_are_validated() {
    refused(
        |m| m.capabilities.kv = Some(crate::KvRequest { quota_bytes: 0 }),
        "capabilities.kv.quota_bytes",
        "between 1 and",
    );
    refused(
        |m| {
            m.capabilities.kv = Some(crate::KvRequest {
                quota_bytes: crate::MAX_KV_QUOTA_BYTES + 1,
            })
        },
        "capabilities.kv.quota_bytes",
        "1 GiB",
    );
    let path_cases = [
        ("workspace", "write /workspace"),
        ("/a/../b", "`..` is not allowed"),
        (
            "/a//b/",
            "normalized, without `.`, `//` or a trailing `/`: /a/b",
        ),
        ("/a/./b", ": /a/b"),
        ("/a/", ": /a"),
        ("/a\\b", "separator"),
    ];
    for (path, text) in path_cases {
        refused(
            |m| m.capabilities.files[0].path = path.into(),
            "capabilities.files[0].path",
            text,
        );
    }
    let mut root = example();
    root.capabilities.files[0].path = "/".into();
    root.validate().unwrap();
    refused(
        |m| {
            let again = m.capabilities.files[0].clone();
            m.capabilities.files.push(again);
        },
        "capabilities.files[1].path",
        "listed twice",
    );
    refused(
        |m| m.capabilities.config[0].key = "api.base".into(),
        "capabilities.config[0].key",
        "no dots",
    );
    refused(
        |m| m.capabilities.config[0].key = String::new(),
        "capabilities.config[0].key",
        "1 to 128",
    );
    refused(
        |m| {
            let again = m.capabilities.config[0].clone();
            m.capabilities.config.push(again);
        },
        "capabilities.config[1].key",
        "listed twice",
    );
}

#[test]
fn webhooks_are_validated() {
    refused(
        |m| {
            if let Some(w) = &mut m.capabilities.webhook {
                w.secret = "no spaces".into();
            }
        },
        "capabilities.webhook.secret",
        "secret name",
    );
    refused(
        |m| {
            if let Some(w) = &mut m.capabilities.webhook {
                w.verification = WebhookVerification::SecretToken {
                    header: "X Token".into(),
                };
            }
        },
        "capabilities.webhook.verification.header",
        "HTTP header name",
    );
    let hmac = |window_secs, ts: Option<&str>| WebhookVerification::HmacSha256 {
        signature_header: "X-Signature".into(),
        timestamp_header: ts.map(String::from),
        window_secs,
        signature_prefix: String::new(),
    };
    refused(
        |m| {
            if let Some(w) = &mut m.capabilities.webhook {
                w.verification = hmac(0, Some("X-Ts"));
            }
        },
        "capabilities.webhook.verification.window_secs",
        "1 to 86400",
    );
    refused(
        |m| {
            if let Some(w) = &mut m.capabilities.webhook {
                w.verification = hmac(300, Some(""));
            }
        },
        "capabilities.webhook.verification.timestamp_header",
        "HTTP header name",
    );
}

#[test]
fn budgets_are_validated_with_the_manifest() {
    refused(|m| m.budgets.fuel = Some(0), "budgets.fuel", "zero");
    refused(
        |m| m.budgets.memory_mb = Some(2048),
        "budgets.memory_mb",
        "1024 MiB",
    );
}

#[test]
fn wit_version_check_names_both_versions() {
    let mut m = example();
    m.check_wit_version().unwrap();
    m.wit_version = "0.3.0".into();
    m.validate().unwrap();
    let err = m.check_wit_version().unwrap_err().to_string();
    assert!(
        err.contains(
            "plugin `telegram` was built against chitin:plugin@0.3.0; this Chitin supports chitin:plugin@0.1.0"
        ),
        "{err}"
    );
    assert!(err.contains("upgrade Chitin"), "{err}");
    m.wit_version = "0.0.9".into();
    let err = m.check_wit_version().unwrap_err().to_string();
    assert!(
        err.contains("chitin:plugin@0.0.9") && err.contains("rebuild the plugin"),
        "{err}"
    );
}

#[test]
fn describes_capabilities_in_plain_english() {
    let lines = example().describe_capabilities();
    let expected = [
        "connect to https://api.telegram.org (port 443)",
        "connect to any subdomain of telegram-cdn.org over https (port 443)",
        "connect to any address in 10.0.0.0/8 over http (ports 8000-8010)",
        "reach loopback, private or link-local addresses in 10.0.0.0/8 (normally blocked)",
        "send secret TELEGRAM_TOKEN only to https://api.telegram.org, in the path: Bot token from @BotFather",
        "store up to 1.0 MiB in its key-value namespace",
        "read and write files under /workspace: Where received files are saved",
        "read config `api_base` (required): Bot API base URL",
        "open websocket connections to wss://stream.telegram.org (port 443)",
        "receive webhooks, which the host verifies by a shared token in X-Telegram-Bot-Api-Secret-Token using secret TELEGRAM_WEBHOOK_SECRET (the plugin never sees it)",
    ];
    assert_eq!(lines, expected);

    let m = manifest(
        r#"
[capabilities]
outbound = ["*://*:*", "http://api.example.com:8080"]
[[capabilities.secrets]]
name = "K"
hosts = ["https://a.example.com", "https://b.example.com:8443", "http://api.example.com:8080"]
inject = ["header", "query", "body"]
[[capabilities.files]]
path = "/data"
access = "read"
"#,
    );
    let lines = m.describe_capabilities();
    assert_eq!(lines[0], "connect to any host over any protocol (any port)");
    assert_eq!(lines[1], "connect to http://api.example.com (port 8080)");
    assert_eq!(
        lines[2],
        "send secret K only to https://a.example.com, https://b.example.com:8443 or \
         http://api.example.com:8080, in a header, the query string or the body"
    );
    assert_eq!(lines[3], "read files under /data");
}

#[test]
fn human_sizes() {
    use crate::manifest::human_bytes;
    assert_eq!(human_bytes(1), "1 byte");
    assert_eq!(human_bytes(512), "512 bytes");
    assert_eq!(human_bytes(1536), "1.5 KiB");
    assert_eq!(human_bytes(1 << 20), "1.0 MiB");
    assert_eq!(human_bytes(1 << 30), "1.0 GiB");
}

#[test]
fn display_matches_serde_names() {
    for kind in [
        PluginKind::Tool,
        PluginKind::Provider,
        PluginKind::Channel,
        PluginKind::McpBridge,
    ] {
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
    }
    for lang in [
        Language::Rust,
        Language::C,
        Language::Python,
        Language::Js,
        Language::Other,
    ] {
        assert_eq!(serde_json::to_string(&lang).unwrap(), format!("\"{lang}\""));
    }
    for access in [Access::Read, Access::ReadWrite] {
        assert_eq!(
            serde_json::to_string(&access).unwrap(),
            format!("\"{access}\"")
        );
    }
    assert!(Access::Read < Access::ReadWrite);
    assert!(Capabilities::default().is_empty());
}
