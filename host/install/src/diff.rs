//! What changes between two versions of a plugin's manifest, and how the operator's grant is
//! carried over to the new one.
//!
//! A change *escalates* when the new version could do more than the old one with the grant the
//! operator already gave: a new or wider host, a new secret or a wider audience for one, a new
//! directory or write access, more kv, higher budgets, a webhook, tools with new effects, another
//! plugin kind. (A grant that defers to the request — a secret without `hosts`, budgets not
//! overridden — follows the request, which is why a widened request needs consent even when the
//! grant text does not change.)

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chitin_manifest::{
    Access, Capabilities, Effect, Grant, HostPattern, KvGrant, Manifest, SecretGrant,
};
use ipnet::IpNet;

use crate::describe;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Widened,
    Narrowed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub text: String,
    /// The new version may do more than the old one with the current grant.
    pub escalates: bool,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mark, word) = match self.kind {
            ChangeKind::Added => ('+', "new"),
            ChangeKind::Removed => ('-', "no longer"),
            ChangeKind::Widened => ('^', "wider"),
            ChangeKind::Narrowed => ('v', "narrower"),
            ChangeKind::Changed => ('~', "changed"),
        };
        write!(f, "{mark} {word}: {}", self.text)
    }
}

/// Every change between two manifests' requests, budgets and effects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityDiff {
    pub changes: Vec<Change>,
}

impl CapabilityDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether anything widened.
    pub fn escalates(&self) -> bool {
        self.changes.iter().any(|c| c.escalates)
    }

    pub fn lines(&self) -> Vec<String> {
        self.changes.iter().map(ToString::to_string).collect()
    }

    pub fn between(old: &Manifest, new: &Manifest) -> CapabilityDiff {
        let mut d = Differ {
            old,
            new,
            changes: Vec::new(),
        };
        d.kind();
        d.patterns("outbound", |c| &c.outbound);
        d.patterns("websocket", |c| &c.websocket);
        d.private_nets();
        d.secrets();
        d.kv();
        d.files();
        d.config();
        d.webhook();
        d.budgets();
        d.effects();
        CapabilityDiff { changes: d.changes }
    }
}

impl fmt::Display for CapabilityDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A budget's name, old and new value, and how to show a value.
type BudgetRow = (&'static str, u128, u128, fn(u128) -> String);

struct Differ<'a> {
    old: &'a Manifest,
    new: &'a Manifest,
    changes: Vec<Change>,
}

fn parse_all(texts: &[String]) -> Vec<(String, HostPattern)> {
    texts
        .iter()
        .filter_map(|t| Some((t.clone(), HostPattern::parse(t).ok()?)))
        .collect()
}

fn nets(texts: &[String]) -> Vec<(String, IpNet)> {
    texts
        .iter()
        .filter_map(|t| {
            let t2 = t.trim();
            let net = t2
                .parse::<std::net::IpAddr>()
                .map(IpNet::from)
                .or_else(|_| t2.parse::<IpNet>())
                .ok()?;
            Some((t.clone(), net))
        })
        .collect()
}

/// "connect to https://x (port 443)" for one pattern, in `describe_capabilities`' words.
fn describe_one(m: &Manifest, caps: Capabilities) -> String {
    Manifest {
        capabilities: caps,
        ..m.clone()
    }
    .describe_capabilities()
    .join("; ")
}

impl Differ<'_> {
    fn push(&mut self, kind: ChangeKind, text: String, escalates: bool) {
        self.changes.push(Change {
            kind,
            text,
            escalates,
        });
    }

    fn kind(&mut self) {
        if self.old.kind != self.new.kind {
            self.push(
                ChangeKind::Changed,
                format!("plugin kind {} → {}", self.old.kind, self.new.kind),
                true,
            );
        }
        if self.old.language != self.new.language {
            self.push(
                ChangeKind::Changed,
                format!("language {} → {}", self.old.language, self.new.language),
                false,
            );
        }
    }

    fn patterns(&mut self, field: &str, get: impl Fn(&Capabilities) -> &Vec<String>) {
        let old = parse_all(get(&self.old.capabilities));
        let new = parse_all(get(&self.new.capabilities));
        let same =
            |a: &HostPattern, list: &[(String, HostPattern)]| list.iter().any(|(_, b)| a == b);
        let describe = |text: &str| {
            let mut caps = Capabilities::default();
            if field == "websocket" {
                caps.websocket = vec![text.to_string()];
            } else {
                caps.outbound = vec![text.to_string()];
            }
            describe_one(self.new, caps)
        };
        let describe_old = |text: &str| {
            let mut caps = Capabilities::default();
            if field == "websocket" {
                caps.websocket = vec![text.to_string()];
            } else {
                caps.outbound = vec![text.to_string()];
            }
            describe_one(self.old, caps)
        };
        let mut accounted: BTreeSet<String> = BTreeSet::new();
        let mut out = Vec::new();
        for (text, p) in &new {
            if same(p, &old) {
                continue;
            }
            let widened: Vec<&String> = old
                .iter()
                .filter(|(_, q)| p.covers(q))
                .map(|(t, _)| t)
                .collect();
            let narrowed: Vec<&String> = old
                .iter()
                .filter(|(_, q)| q.covers(p))
                .map(|(t, _)| t)
                .collect();
            if !widened.is_empty() {
                accounted.extend(widened.iter().map(|t| t.to_string()));
                out.push((
                    ChangeKind::Widened,
                    format!("{field} {} → {text} ({})", join(&widened), describe(text)),
                    true,
                ));
            } else if !narrowed.is_empty() {
                accounted.extend(narrowed.iter().map(|t| t.to_string()));
                out.push((
                    ChangeKind::Narrowed,
                    format!("{field} {} → {text}", join(&narrowed)),
                    false,
                ));
            } else {
                out.push((ChangeKind::Added, describe(text), true));
            }
        }
        for (text, q) in &old {
            if !same(q, &new) && !accounted.contains(text) {
                out.push((ChangeKind::Removed, describe_old(text), false));
            }
        }
        for (kind, text, escalates) in out {
            self.push(kind, text, escalates);
        }
    }

    fn private_nets(&mut self) {
        let old = nets(&self.old.capabilities.allow_private);
        let new = nets(&self.new.capabilities.allow_private);
        for (text, net) in &new {
            if old.iter().any(|(_, o)| o == net) {
                continue;
            }
            if old.iter().any(|(_, o)| o.contains(net)) {
                self.push(
                    ChangeKind::Narrowed,
                    format!("private addresses: only {text}"),
                    false,
                );
            } else {
                self.push(
                    ChangeKind::Added,
                    format!("reach loopback, private or link-local addresses in {text}"),
                    true,
                );
            }
        }
        for (text, net) in &old {
            if !new
                .iter()
                .any(|(_, n)| n == net || n.contains(net) || net.contains(n))
            {
                self.push(
                    ChangeKind::Removed,
                    format!("reaching private addresses in {text}"),
                    false,
                );
            }
        }
    }

    fn secrets(&mut self) {
        let old = &self.old.capabilities.secrets;
        let new = &self.new.capabilities.secrets;
        for secret in new {
            let Some(before) = old.iter().find(|s| s.name == secret.name) else {
                let caps = Capabilities {
                    secrets: vec![secret.clone()],
                    ..Default::default()
                };
                self.push(ChangeKind::Added, describe_one(self.new, caps), true);
                continue;
            };
            let was = parse_all(&before.hosts);
            let now = parse_all(&secret.hosts);
            let wider: Vec<&String> = now
                .iter()
                .filter(|(_, p)| !was.iter().any(|(_, q)| q.covers(p)))
                .map(|(t, _)| t)
                .collect();
            let dropped: Vec<&String> = was
                .iter()
                .filter(|(_, q)| !now.iter().any(|(_, p)| p.covers(q)))
                .map(|(t, _)| t)
                .collect();
            if !wider.is_empty() {
                self.push(
                    ChangeKind::Widened,
                    format!(
                        "secret {} may now also be sent to {}",
                        secret.name,
                        join(&wider)
                    ),
                    true,
                );
            }
            if !dropped.is_empty() {
                self.push(
                    ChangeKind::Narrowed,
                    format!(
                        "secret {} is no longer sent to {}",
                        secret.name,
                        join(&dropped)
                    ),
                    false,
                );
            }
            let places: Vec<String> = secret
                .inject
                .iter()
                .filter(|at| !before.inject.contains(at))
                .map(ToString::to_string)
                .collect();
            if !places.is_empty() {
                self.push(
                    ChangeKind::Widened,
                    format!(
                        "secret {} may now also appear in the {}",
                        secret.name,
                        places.join(", ")
                    ),
                    true,
                );
            }
        }
        for secret in old {
            if !new.iter().any(|s| s.name == secret.name) {
                self.push(
                    ChangeKind::Removed,
                    format!("secret {}", secret.name),
                    false,
                );
            }
        }
    }

    fn kv(&mut self) {
        let old = self.old.capabilities.kv.as_ref().map(|k| k.quota_bytes);
        let new = self.new.capabilities.kv.as_ref().map(|k| k.quota_bytes);
        match (old, new) {
            (None, Some(n)) => self.push(
                ChangeKind::Added,
                format!(
                    "store up to {} in its key-value namespace",
                    describe::bytes(n)
                ),
                true,
            ),
            (Some(o), None) => self.push(
                ChangeKind::Removed,
                format!("key-value storage (was {})", describe::bytes(o)),
                false,
            ),
            (Some(o), Some(n)) if n > o => self.push(
                ChangeKind::Widened,
                format!(
                    "key-value quota {} → {}",
                    describe::bytes(o),
                    describe::bytes(n)
                ),
                true,
            ),
            (Some(o), Some(n)) if n < o => self.push(
                ChangeKind::Narrowed,
                format!(
                    "key-value quota {} → {}",
                    describe::bytes(o),
                    describe::bytes(n)
                ),
                false,
            ),
            _ => {}
        }
    }

    fn files(&mut self) {
        let old = &self.old.capabilities.files;
        let new = &self.new.capabilities.files;
        for file in new {
            match old.iter().find(|f| f.path == file.path) {
                None => {
                    let caps = Capabilities {
                        files: vec![file.clone()],
                        ..Default::default()
                    };
                    self.push(ChangeKind::Added, describe_one(self.new, caps), true);
                }
                Some(before) if file.access > before.access => self.push(
                    ChangeKind::Widened,
                    format!("{} access {} → {}", file.path, before.access, file.access),
                    true,
                ),
                Some(before) if file.access < before.access => self.push(
                    ChangeKind::Narrowed,
                    format!("{} access {} → {}", file.path, before.access, file.access),
                    false,
                ),
                Some(_) => {}
            }
        }
        for file in old {
            if !new.iter().any(|f| f.path == file.path) {
                self.push(
                    ChangeKind::Removed,
                    format!("files under {} ({})", file.path, file.access),
                    false,
                );
            }
        }
    }

    fn config(&mut self) {
        let old = &self.old.capabilities.config;
        let new = &self.new.capabilities.config;
        for config in new {
            match old.iter().find(|c| c.key == config.key) {
                None => self.push(
                    ChangeKind::Added,
                    format!(
                        "config `{}`{}",
                        config.key,
                        if config.required {
                            " (required: the grant must set it)"
                        } else {
                            ""
                        }
                    ),
                    false,
                ),
                Some(before) if config.required && !before.required => self.push(
                    ChangeKind::Changed,
                    format!("config `{}` is now required", config.key),
                    false,
                ),
                Some(_) => {}
            }
        }
        for config in old {
            if !new.iter().any(|c| c.key == config.key) {
                self.push(
                    ChangeKind::Removed,
                    format!("config `{}`", config.key),
                    false,
                );
            }
        }
    }

    fn webhook(&mut self) {
        match (
            &self.old.capabilities.webhook,
            &self.new.capabilities.webhook,
        ) {
            (None, Some(w)) => {
                let caps = Capabilities {
                    webhook: Some(w.clone()),
                    ..Default::default()
                };
                self.push(ChangeKind::Added, describe_one(self.new, caps), true);
            }
            (Some(_), None) => self.push(ChangeKind::Removed, "webhooks".to_string(), false),
            (Some(a), Some(b)) if a != b => self.push(
                ChangeKind::Changed,
                format!("webhook verification (secret {} → {})", a.secret, b.secret),
                false,
            ),
            _ => {}
        }
    }

    fn budgets(&mut self) {
        let (Ok(old), Ok(new)) = (
            self.old.budgets.resolve(self.old.language),
            self.new.budgets.resolve(self.new.language),
        ) else {
            return;
        };
        let fields: [BudgetRow; 7] = [
            ("CPU", old.fuel.into(), new.fuel.into(), |n| {
                format!("{} instructions", describe::thousands(n as u64))
            }),
            (
                "memory",
                old.memory_bytes.into(),
                new.memory_bytes.into(),
                |n| describe::bytes(n as u64),
            ),
            (
                "time",
                old.timeout.as_millis(),
                new.timeout.as_millis(),
                describe::millis,
            ),
            (
                "output",
                old.max_output_bytes.into(),
                new.max_output_bytes.into(),
                |n| describe::bytes(n as u64),
            ),
            (
                "host calls",
                old.max_host_calls.into(),
                new.max_host_calls.into(),
                |n| describe::thousands(n as u64),
            ),
            (
                "HTTP requests",
                old.max_http_requests.into(),
                new.max_http_requests.into(),
                |n| describe::thousands(n as u64),
            ),
            (
                "HTTP response size",
                old.max_response_bytes.into(),
                new.max_response_bytes.into(),
                |n| describe::bytes(n as u64),
            ),
        ];
        for (name, before, after, show) in fields {
            if after > before {
                self.push(
                    ChangeKind::Widened,
                    format!("budget {name} {} → {}", show(before), show(after)),
                    true,
                );
            } else if after < before {
                self.push(
                    ChangeKind::Narrowed,
                    format!("budget {name} {} → {}", show(before), show(after)),
                    false,
                );
            }
        }
    }

    fn effects(&mut self) {
        // A tool that is not listed is treated as doing everything.
        let all: BTreeSet<Effect> = Effect::ALL.into_iter().collect();
        let of = |m: &Manifest, tool: &str| -> BTreeSet<Effect> {
            m.effects
                .get(tool)
                .map_or_else(|| all.clone(), |e| e.iter().copied().collect())
        };
        let tools: BTreeSet<&String> = self
            .old
            .effects
            .keys()
            .chain(self.new.effects.keys())
            .collect();
        let mut found = BTreeMap::new();
        for tool in tools {
            let before = of(self.old, tool);
            let after = of(self.new, tool);
            let added: Vec<&str> = after
                .difference(&before)
                .map(|e| describe::effect_words(*e))
                .collect();
            let removed: Vec<&str> = before
                .difference(&after)
                .map(|e| describe::effect_words(*e))
                .collect();
            found.insert(tool.clone(), (added, removed));
        }
        for (tool, (added, removed)) in found {
            if !added.is_empty() {
                self.push(
                    ChangeKind::Widened,
                    format!("tool {tool} now also {}", added.join(", ")),
                    true,
                );
            }
            if !removed.is_empty() {
                self.push(
                    ChangeKind::Narrowed,
                    format!("tool {tool} no longer {}", removed.join(", ")),
                    false,
                );
            }
        }
    }
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The old grant, narrowed to what `new` still requests, and a note for each thing dropped.
/// Nothing is added: what the new version newly requests is not granted by this.
pub fn carry_grant(old: &Grant, new: &Manifest) -> (Grant, Vec<String>) {
    let caps = &new.capabilities;
    let mut notes = Vec::new();
    let mut grant = Grant {
        budgets: old.budgets.clone(),
        ..Grant::default()
    };
    let keep_patterns =
        |granted: &[String], requested: &[String], what: &str, notes: &mut Vec<String>| {
            let requested = parse_all(requested);
            granted
                .iter()
                .filter(|text| {
                    let covered = HostPattern::parse(text)
                        .is_ok_and(|p| requested.iter().any(|(_, r)| r.covers(&p)));
                    if !covered {
                        notes.push(format!(
                            "{what} {text} is no longer requested; it is dropped from the grant"
                        ));
                    }
                    covered
                })
                .cloned()
                .collect::<Vec<_>>()
        };
    grant.outbound = keep_patterns(&old.outbound, &caps.outbound, "outbound", &mut notes);
    grant.websocket = keep_patterns(&old.websocket, &caps.websocket, "websocket", &mut notes);
    let requested_nets = nets(&caps.allow_private);
    for (text, net) in nets(&old.allow_private) {
        if requested_nets.iter().any(|(_, r)| r.contains(&net)) {
            grant.allow_private.push(text);
        } else {
            notes.push(format!(
                "private range {text} is no longer requested; it is dropped from the grant"
            ));
        }
    }
    for secret in &old.secrets {
        let Some(request) = caps.secrets.iter().find(|s| s.name == secret.name) else {
            notes.push(format!(
                "secret {} is no longer requested; it is dropped from the grant",
                secret.name
            ));
            continue;
        };
        let hosts = match &secret.hosts {
            None => None,
            Some(hosts) => {
                let what = format!("secret {} host", secret.name);
                let kept = keep_patterns(hosts, &request.hosts, &what, &mut notes);
                if kept.is_empty() {
                    notes.push(format!(
                        "secret {} keeps none of its granted hosts; it is dropped from the grant",
                        secret.name
                    ));
                    continue;
                }
                Some(kept)
            }
        };
        grant.secrets.push(SecretGrant {
            name: secret.name.clone(),
            store_key: secret.store_key.clone(),
            hosts,
        });
    }
    grant.kv = match (&old.kv, &caps.kv) {
        (Some(_), None) => {
            notes.push("key-value storage is no longer requested; it is dropped".to_string());
            None
        }
        (Some(g), Some(r)) if g.quota_bytes > r.quota_bytes => {
            notes.push(format!(
                "the key-value quota is lowered to the new request, {}",
                describe::bytes(r.quota_bytes)
            ));
            Some(KvGrant {
                quota_bytes: r.quota_bytes,
            })
        }
        (g, _) => g.clone(),
    };
    for file in &old.files {
        let Some(request) = caps.files.iter().find(|f| f.path == file.path) else {
            notes.push(format!(
                "files under {} are no longer requested; the mount is dropped",
                file.path
            ));
            continue;
        };
        let mut file = file.clone();
        if file.access > request.access {
            notes.push(format!(
                "{} is now requested {} only; the grant is narrowed",
                file.path, request.access
            ));
            file.access = request.access;
        }
        grant.files.push(file);
    }
    for (key, value) in &old.config {
        if caps.config.iter().any(|c| &c.key == key) {
            grant.config.insert(key.clone(), value.clone());
        } else {
            notes.push(format!(
                "config `{key}` is no longer declared; it is dropped"
            ));
        }
    }
    if old.webhook {
        if caps.webhook.is_some() {
            grant.webhook = true;
        } else {
            notes.push("webhooks are no longer requested; dropped".to_string());
        }
    }
    (grant, notes)
}

/// `grant` plus what `new` requests beyond `old` (hosts, ranges, secrets, a wider secret
/// audience, kv, a webhook). Directories and config values need the operator's input and are
/// returned as notes instead.
pub fn extend_grant(grant: &Grant, old: &Manifest, new: &Manifest) -> (Grant, Vec<String>) {
    let mut grant = grant.clone();
    let mut notes = Vec::new();
    let (o, n) = (&old.capabilities, &new.capabilities);
    let add_patterns = |granted: &mut Vec<String>, old: &[String], new: &[String]| {
        let old = parse_all(old);
        let have = parse_all(granted);
        for (text, p) in parse_all(new) {
            let was_requested = old.iter().any(|(_, q)| q.covers(&p));
            let has = have.iter().any(|(_, g)| g.covers(&p));
            if !was_requested && !has {
                granted.push(text);
            }
        }
    };
    add_patterns(&mut grant.outbound, &o.outbound, &n.outbound);
    add_patterns(&mut grant.websocket, &o.websocket, &n.websocket);
    let old_nets = nets(&o.allow_private);
    for (text, net) in nets(&n.allow_private) {
        if !old_nets.iter().any(|(_, q)| q.contains(&net)) && !grant.allow_private.contains(&text) {
            grant.allow_private.push(text);
        }
    }
    for secret in &n.secrets {
        match o.secrets.iter().find(|s| s.name == secret.name) {
            None => {
                if !grant.secrets.iter().any(|g| g.name == secret.name) {
                    grant.secrets.push(SecretGrant {
                        name: secret.name.clone(),
                        store_key: None,
                        hosts: None,
                    });
                }
            }
            Some(before) => {
                if let Some(g) = grant.secrets.iter_mut().find(|g| g.name == secret.name)
                    && let Some(hosts) = &mut g.hosts
                {
                    add_patterns(hosts, &before.hosts, &secret.hosts);
                }
            }
        }
    }
    match (&o.kv, &n.kv, &grant.kv) {
        (None, Some(r), None) => {
            grant.kv = Some(KvGrant {
                quota_bytes: r.quota_bytes,
            });
        }
        (Some(was), Some(r), Some(g))
            if r.quota_bytes > was.quota_bytes && g.quota_bytes == was.quota_bytes =>
        {
            grant.kv = Some(KvGrant {
                quota_bytes: r.quota_bytes,
            });
        }
        _ => {}
    }
    for file in &n.files {
        let before = o.files.iter().find(|f| f.path == file.path);
        let granted = grant.files.iter_mut().find(|f| f.path == file.path);
        match (before, granted) {
            (None, None) => notes.push(format!(
                "{} ({}) is not mounted: add it under files in the grant with the host \
                 directory to use",
                file.path, file.access
            )),
            (Some(b), Some(g))
                if b.access == Access::Read
                    && g.access == Access::Read
                    && file.access == Access::ReadWrite =>
            {
                notes.push(format!(
                    "{} stays read-only: set access = \"read-write\" in the grant to allow writes",
                    file.path
                ));
            }
            _ => {}
        }
    }
    for config in &n.config {
        if config.required && !grant.config.contains_key(&config.key) {
            notes.push(format!(
                "config `{}` is required: set it under config in the grant",
                config.key
            ));
        }
    }
    if n.webhook.is_some() && o.webhook.is_none() {
        grant.webhook = true;
    }
    (grant, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> Manifest {
        Manifest::from_toml(&format!(
            "id = \"w\"\nname = \"W\"\nversion = \"1.0.0\"\nkind = \"tool\"\n\
             wit_version = \"0.1.0\"\ndescription = \"\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn no_change_is_no_diff() {
        let m = manifest("[capabilities]\noutbound = [\"https://a.example\"]\n");
        assert!(CapabilityDiff::between(&m, &m).is_empty());
    }

    #[test]
    fn added_removed_widened_narrowed() {
        let old = manifest(
            "[capabilities]\noutbound = [\"https://api.example.com\", \"https://old.example\"]\n\
             kv = { quota_bytes = 1024 }\n\
             files = [{ path = \"/data\", access = \"read\" }]\n\
             [[capabilities.secrets]]\nname = \"KEY\"\nhosts = [\"https://api.example.com\"]\ninject = [\"header\"]\n\
             [budgets]\nfuel = 1000\n[effects]\nt = []\n",
        );
        let new = manifest(
            "[capabilities]\noutbound = [\"https://*.example.com\", \"https://new.example\"]\n\
             kv = { quota_bytes = 2048 }\n\
             files = [{ path = \"/data\", access = \"read-write\" }, { path = \"/out\", access = \"read\" }]\n\
             [[capabilities.secrets]]\nname = \"KEY\"\nhosts = [\"https://*.example.com\"]\ninject = [\"header\", \"query\"]\n\
             [[capabilities.secrets]]\nname = \"OTHER\"\nhosts = [\"https://new.example\"]\ninject = [\"body\"]\n\
             [budgets]\nfuel = 500\n[effects]\nt = [\"sends\"]\n",
        );
        let diff = CapabilityDiff::between(&old, &new);
        let text = diff.to_string();
        assert!(diff.escalates(), "{text}");
        for expected in [
            "^ wider: outbound https://api.example.com → https://*.example.com",
            "+ new: connect to https://new.example (port 443)",
            "- no longer: connect to https://old.example (port 443)",
            "^ wider: key-value quota 1 KiB → 2 KiB",
            "^ wider: /data access read → read-write",
            "+ new: read files under /out",
            "^ wider: secret KEY may now also be sent to https://*.example.com",
            "^ wider: secret KEY may now also appear in the query",
            "+ new: send secret OTHER only to",
            "v narrower: budget CPU 1,000 instructions → 500 instructions",
            "^ wider: tool t now also sends",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // The reverse: narrower hosts, and the CPU budget and the old host are escalations.
        let back = CapabilityDiff::between(&new, &old);
        let escalations: Vec<&Change> = back.changes.iter().filter(|c| c.escalates).collect();
        assert_eq!(escalations.len(), 2, "{back}");
        assert!(
            back.to_string()
                .contains("v narrower: outbound https://*.example.com → https://api.example.com"),
            "{back}"
        );
    }

    #[test]
    fn grants_carry_over_and_extend() {
        let old = manifest(
            "[capabilities]\noutbound = [\"https://a.example\", \"https://b.example\"]\nkv = { quota_bytes = 1024 }\n",
        );
        let new = manifest(
            "[capabilities]\noutbound = [\"https://a.example\", \"https://c.example\"]\nkv = { quota_bytes = 4096 }\n",
        );
        let grant: Grant = toml::from_str(
            "outbound = [\"https://a.example\", \"https://b.example\"]\nkv = { quota_bytes = 1024 }\n",
        )
        .unwrap();
        let (carried, notes) = carry_grant(&grant, &new);
        assert_eq!(carried.outbound, vec!["https://a.example".to_string()]);
        assert_eq!(carried.kv, Some(KvGrant { quota_bytes: 1024 }));
        assert!(notes[0].contains("https://b.example"), "{notes:?}");
        carried.resolve(&new).unwrap();
        let (extended, notes) = extend_grant(&carried, &old, &new);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            extended.outbound,
            vec![
                "https://a.example".to_string(),
                "https://c.example".to_string()
            ]
        );
        assert_eq!(extended.kv, Some(KvGrant { quota_bytes: 4096 }));
        extended.resolve(&new).unwrap();
    }
}
