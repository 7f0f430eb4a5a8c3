use std::path::PathBuf;
use std::time::Duration;

use super::{doc_example, manifest};
use crate::{
    Access, EffectiveGrant, FileGrant, Grant, GrantError, HostPattern, InjectAt, KvGrant, Language,
    Manifest, SecretGrant,
};

/// A plugin that requests a bit of everything, with id `x`.
fn requesting() -> Manifest {
    manifest(
        r#"
[capabilities]
outbound = ["https://*.wikipedia.org", "http://127.0.0.1:*"]
allow_private = ["10.0.0.0/8", "127.0.0.1/32"]
websocket = ["wss://*.discord.gg"]

[[capabilities.secrets]]
name = "TOKEN"
hosts = ["https://*.wikipedia.org"]
inject = ["header", "query"]

[capabilities.kv]
quota_bytes = 65536

[[capabilities.files]]
path = "/workspace"
access = "read"

[[capabilities.files]]
path = "/data"
access = "read-write"

[[capabilities.config]]
key = "a"

[[capabilities.config]]
key = "b"

[budgets]
fuel = 500_000_000
timeout_ms = 20_000
"#,
    )
}

/// A grant from TOML, as an operator writes it under `[plugins.x.grant]`.
fn grant(text: &str) -> Grant {
    toml::from_str(text).unwrap_or_else(|err| panic!("{err}\n{text}"))
}

fn resolve(text: &str) -> EffectiveGrant {
    grant(text)
        .resolve(&requesting())
        .unwrap_or_else(|err| panic!("{err}\n{text}"))
}

fn refuse(text: &str) -> (GrantError, String) {
    match grant(text).resolve(&requesting()) {
        Ok(e) => panic!("grant was accepted: {e:?}\n{text}"),
        Err(err) => {
            let message = err.to_string();
            assert!(message.contains("`x`"), "names the plugin: {message}");
            (err, message)
        }
    }
}

#[test]
fn empty_grant_allows_nothing() {
    let e = resolve("");
    assert_eq!(e.plugin_id, "x");
    assert!(e.outbound.is_empty() && e.allow_private.is_empty() && e.websocket.is_empty());
    assert!(e.secrets.is_empty() && e.files.is_empty() && e.config.is_empty());
    assert_eq!(e.kv_quota_bytes, None);
    assert!(!e.webhook);
    // Budgets: the manifest's, language defaults for the rest.
    assert_eq!(e.budgets.fuel, 500_000_000);
    assert_eq!(e.budgets.timeout, Duration::from_secs(20));
    assert_eq!(e.budgets.memory_bytes, 64 << 20);
}

#[test]
fn narrower_grant_resolves() {
    let e = resolve(
        r#"
outbound = ["https://en.wikipedia.org", "http://127.0.0.1:8080"]
allow_private = ["10.1.0.0/16", "127.0.0.1"]
websocket = ["wss://gateway.discord.gg"]
[[secrets]]
name = "TOKEN"
store_key = "TOKEN_SECOND_ACCOUNT"
hosts = ["https://en.wikipedia.org"]
[kv]
quota_bytes = 100
[[files]]
path = "/workspace"
host_dir = "/srv/ws"
access = "read"
[[files]]
path = "/data"
host_dir = "/srv/data"
access = "read"
[config]
a = "1"
[budgets]
fuel = 40_000_000_000
"#,
    );
    assert_eq!(
        e.outbound,
        vec![
            HostPattern::parse("https://en.wikipedia.org").unwrap(),
            HostPattern::parse("http://127.0.0.1:8080").unwrap()
        ]
    );
    assert_eq!(
        e.allow_private,
        vec![
            "10.1.0.0/16".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap()
        ]
    );
    assert_eq!(e.websocket.len(), 1);
    assert_eq!(e.secrets.len(), 1);
    let secret = &e.secrets[0];
    assert_eq!(secret.name, "TOKEN");
    assert_eq!(secret.store_key, "TOKEN_SECOND_ACCOUNT");
    assert_eq!(
        secret.audience,
        vec![HostPattern::parse("https://en.wikipedia.org").unwrap()]
    );
    assert_eq!(secret.inject, vec![InjectAt::Header, InjectAt::Query]);
    assert_eq!(e.kv_quota_bytes, Some(100));
    assert_eq!(e.files.len(), 2);
    assert_eq!(e.files[1].access, Access::Read);
    assert_eq!(e.config.get("a").map(String::as_str), Some("1"));
    // The operator may raise a budget above the manifest's, up to the hard maximum.
    assert_eq!(e.budgets.fuel, 40_000_000_000);
    assert_eq!(e.budgets.timeout, Duration::from_secs(20));
}

#[test]
fn secret_defaults_come_from_the_request() {
    let e = resolve("[[secrets]]\nname = \"TOKEN\"\n");
    assert_eq!(e.secrets[0].store_key, "TOKEN");
    assert_eq!(
        e.secrets[0].audience,
        vec![HostPattern::parse("https://*.wikipedia.org").unwrap()]
    );
}

#[test]
fn outbound_wider_than_requested_is_refused() {
    let (err, message) = refuse("outbound = [\"https://evil.example\"]");
    assert!(matches!(err, GrantError::NotCovered { .. }));
    assert_eq!(
        message,
        "grant for plugin `x` is wider than what it requested: outbound `https://evil.example` \
         is not covered by its request [https://*.wikipedia.org, http://127.0.0.1:*]. Remove \
         it, or narrow it to a requested host."
    );
    for wider in [
        "https://wikipedia.org",
        "https://*.org",
        "http://en.wikipedia.org",
        "https://en.wikipedia.org:8443",
        "*://en.wikipedia.org:443",
        "http://127.0.0.0/8:80",
        "http://localhost:80",
    ] {
        let (err, _) = refuse(&format!("outbound = [\"{wider}\"]"));
        assert!(
            matches!(err, GrantError::NotCovered { .. }),
            "{wider}: {err}"
        );
    }
    let (err, message) = refuse("outbound = [\"en.wikipedia.org\"]");
    assert!(matches!(err, GrantError::InvalidPattern { .. }), "{err}");
    assert!(
        message.contains("write https://en.wikipedia.org"),
        "{message}"
    );
    let (err, message) =
        refuse("outbound = [\"https://en.wikipedia.org\", \"https://EN.wikipedia.org:443\"]");
    assert!(matches!(err, GrantError::Duplicate { .. }), "{err}");
    assert!(message.contains("twice"), "{message}");
}

#[test]
fn not_requested_capabilities_are_refused() {
    let nothing = manifest("");
    let refused = |text: &str| {
        let err = grant(text).resolve(&nothing).expect_err(text);
        err.to_string()
    };
    let message = refused("outbound = [\"https://a.com\"]");
    assert!(message.contains("was not requested at all"), "{message}");
    let message = refused("allow_private = [\"10.0.0.0/8\"]");
    assert!(
        message.contains("allow_private `10.0.0.0/8` was not requested"),
        "{message}"
    );
    let message = refused("websocket = [\"wss://a.com\"]");
    assert!(message.contains("websocket"), "{message}");
    let message = refused("[kv]\nquota_bytes = 1\n");
    assert!(
        message.contains("remove `kv` from [plugins.x.grant]"),
        "{message}"
    );
    let message = refused("webhook = true");
    assert!(
        message.contains("a webhook, which the plugin did not request"),
        "{message}"
    );
    let message = refused("[[secrets]]\nname = \"T\"\n");
    assert!(message.contains("(requested: none)"), "{message}");
    let message = refused("[config]\nfoo = \"1\"\n");
    assert!(message.contains("(declared: none)"), "{message}");
}

#[test]
fn allow_private_must_lie_inside_the_request() {
    let (err, message) = refuse("allow_private = [\"0.0.0.0/0\"]");
    assert!(matches!(err, GrantError::NotCovered { .. }), "{err}");
    assert!(message.contains("[10.0.0.0/8, 127.0.0.1/32]"), "{message}");
    assert!(message.contains("requested range"), "{message}");
    let (err, _) = refuse("allow_private = [\"127.0.0.0/8\"]");
    assert!(matches!(err, GrantError::NotCovered { .. }));
    let (err, message) = refuse("allow_private = [\"10.0.0.1/8\"]");
    assert!(matches!(err, GrantError::InvalidEntry { .. }));
    assert!(message.contains("write 10.0.0.0/8"), "{message}");
    let (err, _) = refuse("allow_private = [\"10.0.0.0/8\", \"10.0.0.0/8\"]");
    assert!(matches!(err, GrantError::Duplicate { .. }));
}

#[test]
fn secret_grants_are_checked() {
    let (err, message) = refuse("[[secrets]]\nname = \"OTHER\"\n");
    assert!(matches!(err, GrantError::UnknownSecret { .. }));
    assert!(
        message.contains("`OTHER`") && message.contains("(requested: TOKEN)"),
        "{message}"
    );
    let (err, message) =
        refuse("[[secrets]]\nname = \"TOKEN\"\nhosts = [\"https://evil.example\"]\n");
    assert!(matches!(err, GrantError::NotCovered { .. }));
    assert!(
        message.contains("hosts of secret `TOKEN` `https://evil.example`"),
        "{message}"
    );
    let (err, _) = refuse("[[secrets]]\nname = \"TOKEN\"\nhosts = [\"http://127.0.0.1:80\"]\n");
    assert!(
        matches!(err, GrantError::NotCovered { .. }),
        "outbound is not the audience"
    );
    let (err, message) = refuse("[[secrets]]\nname = \"TOKEN\"\nhosts = []\n");
    assert!(matches!(err, GrantError::EmptySecretAudience { .. }));
    assert!(
        message.contains("remove the secret from the grant"),
        "{message}"
    );
    let (err, _) = refuse("[[secrets]]\nname = \"TOKEN\"\nstore_key = \"bad key\"\n");
    assert!(matches!(err, GrantError::InvalidEntry { .. }));
    let (err, _) = refuse("[[secrets]]\nname = \"TOKEN\"\n[[secrets]]\nname = \"TOKEN\"\n");
    assert!(matches!(err, GrantError::Duplicate { .. }));
}

#[test]
fn kv_quota_is_bounded_by_the_request() {
    let (err, message) = refuse("[kv]\nquota_bytes = 1000000\n");
    assert!(matches!(err, GrantError::KvQuotaTooLarge { .. }));
    assert!(
        message.contains("set quota_bytes to 65536 or less"),
        "{message}"
    );
    let (err, _) = refuse("[kv]\nquota_bytes = 0\n");
    assert!(matches!(err, GrantError::KvQuotaZero { .. }));
    assert_eq!(
        resolve("[kv]\nquota_bytes = 65536\n").kv_quota_bytes,
        Some(65536)
    );
}

#[test]
fn file_grants_are_checked() {
    let files = Manifest {
        id: "files".into(),
        ..requesting()
    };
    let wider = Grant {
        files: vec![FileGrant {
            path: "/workspace".into(),
            host_dir: PathBuf::from("/srv/ws"),
            access: Access::ReadWrite,
        }],
        ..Grant::default()
    };
    let err = wider.resolve(&files).unwrap_err();
    assert!(matches!(err, GrantError::FileAccessWider { .. }));
    assert!(
        err.to_string().starts_with(
            "grant for plugin `files` gives read-write on /workspace but the plugin only requested read"
        ),
        "{err}"
    );
    let (err, message) =
        refuse("[[files]]\npath = \"/etc\"\nhost_dir = \"/etc\"\naccess = \"read\"\n");
    assert!(matches!(err, GrantError::UnknownFile { .. }));
    assert!(
        message.contains("(requested: /workspace, /data)"),
        "{message}"
    );
    let (err, _) =
        refuse("[[files]]\npath = \"/workspace/\"\nhost_dir = \"/srv\"\naccess = \"read\"\n");
    assert!(
        matches!(err, GrantError::UnknownFile { .. }),
        "paths must match exactly"
    );
    let (err, message) =
        refuse("[[files]]\npath = \"/data\"\nhost_dir = \"data\"\naccess = \"read\"\n");
    assert!(matches!(err, GrantError::RelativeHostDir { .. }));
    assert!(message.contains("absolute path"), "{message}");
    let (err, _) = refuse(
        "[[files]]\npath = \"/data\"\nhost_dir = \"/a\"\naccess = \"read\"\n\
         [[files]]\npath = \"/data\"\nhost_dir = \"/b\"\naccess = \"read\"\n",
    );
    assert!(matches!(err, GrantError::Duplicate { .. }));
}

#[test]
fn config_grants_are_checked() {
    let (err, message) = refuse("[config]\nfoo = \"1\"\n");
    assert!(matches!(err, GrantError::UnknownConfig { .. }));
    assert!(
        message.starts_with(
            "grant for plugin `x` sets config `foo`, which the plugin does not declare (declared: a, b)"
        ),
        "{message}"
    );
    let m = manifest("[[capabilities.config]]\nkey = \"api_base\"\nrequired = true\n");
    let err = Grant::default().resolve(&m).unwrap_err();
    assert!(matches!(err, GrantError::MissingConfig { .. }));
    assert_eq!(
        err.to_string(),
        "plugin `x` requires config `api_base`; add it under [plugins.x.grant.config]"
    );
    let ok = grant("[config]\napi_base = \"https://api.example.com\"\n").resolve(&m);
    assert!(ok.is_ok());
}

#[test]
fn webhook_and_websocket_grants() {
    let m = Manifest::from_toml(&doc_example()).unwrap();
    let mut g = Grant::all_requested(&m);
    g.config
        .insert("api_base".into(), "https://api.telegram.org".into());
    assert!(g.resolve(&m).unwrap().webhook);
    let (err, _) = refuse("websocket = [\"wss://discord.com\"]");
    assert!(matches!(err, GrantError::NotCovered { .. }));
    assert_eq!(
        resolve("websocket = [\"wss://a.discord.gg\"]")
            .websocket
            .len(),
        1
    );
}

#[test]
fn budget_overrides_are_bounded_by_hard_maxima() {
    let (err, message) = refuse("[budgets]\nfuel = 60_000_000_000\n");
    assert!(matches!(err, GrantError::Budget { .. }));
    assert!(
        message.contains("budgets.fuel") && message.contains("50000000000"),
        "{message}"
    );
    assert!(message.contains("[plugins.x.grant.budgets]"), "{message}");
    let (err, _) = refuse("[budgets]\nmemory_mb = 0\n");
    assert!(matches!(err, GrantError::Budget { .. }));
    let e = resolve("[budgets]\nmemory_mb = 1024\nmax_http_requests = 1\n");
    assert_eq!(e.budgets.memory_bytes, 1 << 30);
    assert_eq!(e.budgets.max_http_requests, 1);
}

#[test]
fn all_requested_resolves_to_the_request() {
    let m = requesting();
    let g = Grant::all_requested(&m);
    assert!(g.files.is_empty() && g.config.is_empty());
    let e = g.resolve(&m).unwrap();
    assert_eq!(e.outbound.len(), 2);
    assert_eq!(e.allow_private.len(), 2);
    assert_eq!(e.websocket.len(), 1);
    assert_eq!(e.secrets.len(), 1);
    assert_eq!(e.secrets[0].store_key, "TOKEN");
    assert_eq!(e.kv_quota_bytes, Some(65536));
    assert!(!e.webhook);
    assert_eq!(e.budgets, m.budgets.resolve(Language::Rust).unwrap());

    // A required config key has no value to take from the request, so it must be added.
    let example = Manifest::from_toml(&doc_example()).unwrap();
    let err = Grant::all_requested(&example)
        .resolve(&example)
        .unwrap_err();
    assert!(matches!(err, GrantError::MissingConfig { .. }), "{err}");
}

#[test]
fn grant_toml_refuses_unknown_keys_and_round_trips() {
    let err = toml::from_str::<Grant>("outbund = []")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `outbund`"), "{err}");
    let err = toml::from_str::<Grant>("[[secrets]]\nname = \"T\"\naudience = []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `audience`"), "{err}");
    let g = Grant {
        outbound: vec!["https://a.com".into()],
        secrets: vec![SecretGrant {
            name: "T".into(),
            store_key: Some("T2".into()),
            hosts: None,
        }],
        kv: Some(KvGrant { quota_bytes: 5 }),
        webhook: true,
        ..Grant::default()
    };
    let text = toml::to_string(&g).unwrap();
    assert_eq!(toml::from_str::<Grant>(&text).unwrap(), g, "{text}");
}

#[test]
fn invalid_manifest_is_reported_not_trusted() {
    let mut m = requesting();
    m.capabilities.outbound.push("nope".into());
    let err = Grant::default().resolve(&m).unwrap_err();
    assert!(matches!(err, GrantError::InvalidManifest { .. }), "{err}");
    assert!(
        err.to_string().contains("capabilities.outbound[2]"),
        "{err}"
    );
}
