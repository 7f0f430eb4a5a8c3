//! `chitin plugin inspect|pack|install|update|list|remove|sign|keygen|new`.
//!
//! Installing follows the Spin-style split: the plugin's manifest states what it needs, the
//! operator's grant allows it. `install` reads the manifest without running any code, checks the
//! file's digest and signature and whether its signer is trusted, shows what it requests in
//! plain words, asks (or takes `--yes --grant FILE`), then copies it to
//! `~/.chitin/plugins/<id>.wasm`, compiles it into the AOT cache, adds `[plugins.<id>]` to
//! chitin.toml and records it in `~/.chitin/plugins.lock`. The pieces live in `chitin-install`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chitin_install::fetch::{self, FetchOptions};
use chitin_install::{
    CapabilityDiff, Keyring, LockEntry, Lockfile, SignatureStatus, Signer, Trust, config_edit,
    describe, fsutil, template,
};
use chitin_manifest::{Grant, Manifest};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::home::Home;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Print the manifest embedded in a plugin, without running any of its code.
    Inspect {
        /// The plugin's `.wasm` file.
        file: PathBuf,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Embed a manifest (`plugin.toml`) into a built component.
    Pack {
        /// The manifest, e.g. `plugin.toml` next to the plugin's Cargo.toml.
        manifest: PathBuf,
        /// The component built by the plugin's toolchain.
        component: PathBuf,
        /// Where to write the packed plugin.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Install a plugin: verify it, show what it requests, ask, then copy, compile and
    /// configure it.
    Install {
        /// A `.wasm` file, or an https:// URL.
        source: String,
        #[command(flatten)]
        options: SourceOptions,
    },
    /// Replace an installed plugin with a newer version of itself; asks again if it requests
    /// more than before.
    Update {
        /// The installed plugin's id.
        id: String,
        /// The new `.wasm` file, or an https:// URL.
        source: String,
        #[command(flatten)]
        options: SourceOptions,
        /// Allow installing an older version than the installed one.
        #[arg(long)]
        allow_downgrade: bool,
    },
    /// The installed plugins: version, signer, digest.
    List {
        /// Re-check every installed file against the lockfile and say why one would not load.
        #[arg(long)]
        verify: bool,
        /// Another keyring of trusted publisher keys (also: $CHITIN_KEYRING).
        #[arg(long = "keyring", value_name = "FILE")]
        keyrings: Vec<PathBuf>,
    },
    /// Uninstall a plugin: its file, its section in chitin.toml and its lockfile entry.
    Remove {
        id: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Sign a plugin with your Ed25519 key (replaces any previous signature).
    Sign {
        /// The packed plugin.
        file: PathBuf,
        /// Your private key (PKCS#8, from `chitin plugin keygen` or openssl).
        #[arg(long)]
        key: PathBuf,
        /// Your name as operators will see it when they install the plugin (it is signed).
        #[arg(long, env = "CHITIN_PUBLISHER")]
        publisher: String,
        /// Where to write the signed plugin (default: sign the file in place).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Create a signing key (private key file, 0600) and print its public key.
    Keygen {
        /// Where to write the private key.
        #[arg(short, long, default_value = "chitin-signing.pk8")]
        output: PathBuf,
    },
    /// Create a plugin project from a template.
    New {
        /// The plugin's name; its id is derived from it ("My Weather" → my-weather).
        name: String,
        /// rust, python, js or c.
        #[arg(long)]
        lang: String,
        /// What kind of plugin (only `tool` has templates so far).
        #[arg(long, default_value = "tool")]
        kind: String,
        /// The project directory to create (default: ./<id>).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// What `install` and `update` share.
#[derive(Args)]
pub struct SourceOptions {
    /// Do not ask (automation); requires --grant, the exact grant to give.
    #[arg(long)]
    yes: bool,
    /// The grant, as TOML: what goes under [plugins.<id>.grant] in chitin.toml.
    #[arg(long, value_name = "FILE")]
    grant: Option<PathBuf>,
    /// Install a plugin that carries no signature.
    #[arg(long)]
    allow_unsigned: bool,
    /// Trust the signer's key if it is not trusted yet; `--trust-key=ed25519:…` trusts only
    /// that key.
    #[arg(
        long,
        value_name = "KEY_ID",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    trust_key: Option<String>,
    /// The expected sha256 of the file; anything else is refused.
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// Allow plain http:// to 127.0.0.1 / localhost (for tests; never other hosts).
    #[arg(long)]
    allow_http: bool,
    /// Another keyring of trusted publisher keys (also: $CHITIN_KEYRING).
    #[arg(long = "keyring", value_name = "FILE")]
    keyrings: Vec<PathBuf>,
}

pub fn run(command: PluginCommand, home: &Home) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Inspect { file, json } => inspect(&file, json),
        PluginCommand::Pack {
            manifest,
            component,
            output,
        } => pack(&manifest, &component, &output),
        PluginCommand::Install { source, options } => install(home, &source, &options),
        PluginCommand::Update {
            id,
            source,
            options,
            allow_downgrade,
        } => update(home, &id, &source, &options, allow_downgrade),
        PluginCommand::List { verify, keyrings } => list(home, verify, &keyrings),
        PluginCommand::Remove { id, yes } => remove(home, &id, yes),
        PluginCommand::Sign {
            file,
            key,
            publisher,
            output,
        } => sign(&file, &key, &publisher, output.as_deref()),
        PluginCommand::Keygen { output } => keygen(&output),
        PluginCommand::New {
            name,
            lang,
            kind,
            dir,
        } => new_project(&name, &lang, &kind, dir),
    }
}

fn inspect(file: &PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let manifest = chitin_manifest::extract_manifest(&wasm)
        .map_err(|err| anyhow::anyhow!("{}: {err}", file.display()))?;
    if json {
        println!("{}", manifest.to_json());
        return Ok(ExitCode::SUCCESS);
    }
    let digest = chitin_sandbox::sha256_hex(&wasm);
    println!("{} {} ({})", manifest.name, manifest.version, manifest.id);
    println!("  kind:        {}", manifest.kind);
    println!(
        "  built for:   {}@{}",
        chitin_manifest::WIT_PACKAGE,
        manifest.wit_version
    );
    println!("  language:    {}", manifest.language);
    println!("  file:        {} ({} bytes)", file.display(), wasm.len());
    println!("  sha256:      {digest}");
    println!(
        "  signature:   {}",
        match chitin_install::verify(&wasm) {
            Ok(SignatureStatus::Unsigned) => "none (unsigned)".to_string(),
            Ok(SignatureStatus::Signed(s)) =>
                format!("valid, by \"{}\" with key {}", s.publisher, s.key_id),
            Err(err) => format!("INVALID: {err}"),
        }
    );
    println!("  description: {}", manifest.description);
    if let Err(err) = manifest.check_wit_version() {
        println!("  WARNING:     {err}");
    }
    println!("  requests:");
    for line in manifest.describe_capabilities() {
        println!("    - {line}");
    }
    if manifest.kind == chitin_manifest::PluginKind::Tool {
        println!("  tool effects:");
        if manifest.effects.is_empty() {
            println!(
                "    - none declared: every tool is treated as reading untrusted input, writing and sending"
            );
        }
        for (tool, effects) in &manifest.effects {
            let list: Vec<String> = effects.iter().map(ToString::to_string).collect();
            println!(
                "    - {tool}: {}",
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            );
        }
    }
    let budgets = manifest
        .budgets
        .resolve(manifest.language)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    println!("  budgets per call:");
    println!("    - fuel: {} instructions", budgets.fuel);
    println!("    - memory: {} MiB", budgets.memory_bytes >> 20);
    println!("    - time: {} ms", budgets.timeout.as_millis());
    println!("    - output: {} KiB", budgets.max_output_bytes >> 10);
    println!("    - host calls: {}", budgets.max_host_calls);
    println!(
        "    - HTTP: {} requests, {} KiB per response",
        budgets.max_http_requests,
        budgets.max_response_bytes >> 10
    );
    Ok(ExitCode::SUCCESS)
}

fn pack(manifest: &PathBuf, component: &PathBuf, output: &PathBuf) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let parsed = chitin_manifest::Manifest::from_toml(&text)
        .map_err(|err| anyhow::anyhow!("{}: {err}", manifest.display()))?;
    let wasm =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let packed = chitin_manifest::embed_manifest(&wasm, &parsed)
        .map_err(|err| anyhow::anyhow!("{}: {err}", component.display()))?;
    if let Some(parent) = output.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(output, &packed).with_context(|| format!("writing {}", output.display()))?;
    println!(
        "packed {} {} into {} ({} bytes)",
        parsed.id,
        parsed.version,
        output.display(),
        packed.len()
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// install / update

/// Where installed plugins, the lockfile and the trusted keys live.
struct Paths {
    root: PathBuf,
    config: PathBuf,
    lock: PathBuf,
    trusted_keys: PathBuf,
}

impl Paths {
    fn new(home: &Home) -> Paths {
        let root = home.root().to_path_buf();
        Paths {
            config: home.config_file(),
            lock: root.join(chitin_install::LOCKFILE),
            trusted_keys: root.join(chitin_install::TRUSTED_KEYS_FILE),
            root,
        }
    }

    /// `plugins/<id>.wasm`, relative to the home (what chitin.toml and the lockfile record).
    fn relative_file(id: &str) -> String {
        format!("{}/{id}.wasm", chitin_install::PLUGINS_DIR)
    }

    fn keyring(&self, extra: &[PathBuf]) -> anyhow::Result<Keyring> {
        let mut paths = Keyring::paths_from_env();
        paths.extend(extra.iter().cloned());
        Keyring::load(&self.trusted_keys, &paths)
    }
}

/// A plugin file read from disk or downloaded, with its digest checked.
struct Fetched {
    wasm: Vec<u8>,
    /// The URL, or the absolute path.
    source: String,
    digest: String,
}

fn fetch_source(source: &str, options: &SourceOptions) -> anyhow::Result<Fetched> {
    let (wasm, recorded) = if fetch::is_url(source) {
        let fetch_options = FetchOptions {
            allow_http_loopback: options.allow_http,
            ..FetchOptions::default()
        };
        eprintln!("downloading {source}");
        let wasm = super::runtime()?.block_on(fetch::download(source, &fetch_options))?;
        (wasm, source.to_string())
    } else {
        let path = Path::new(source);
        let meta = std::fs::metadata(path).with_context(|| format!("reading {source}"))?;
        if meta.len() > fetch::MAX_PLUGIN_BYTES {
            anyhow::bail!(
                "{source} is {} bytes, over the limit of {} bytes for a plugin",
                meta.len(),
                fetch::MAX_PLUGIN_BYTES
            );
        }
        let wasm = std::fs::read(path).with_context(|| format!("reading {source}"))?;
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        (wasm, absolute.display().to_string())
    };
    let digest = chitin_install::sha256_hex(&wasm);
    if let Some(expected) = &options.sha256 {
        let expected = expected.trim().to_ascii_lowercase();
        if expected != digest {
            anyhow::bail!(
                "digest mismatch: {source} has sha256 {digest}, but --sha256 expected {expected}; \
                 this is not the file you meant to install"
            );
        }
    }
    Ok(Fetched {
        wasm,
        source: recorded,
        digest,
    })
}

/// The signer as the operator trusts it.
struct TrustedSigner {
    signer: Signer,
    /// The publisher name recorded when the key was trusted (or now, if trusted now).
    publisher: String,
    newly_trusted: bool,
}

/// Reads the manifest (without running anything), checks the signature and decides trust.
fn check_plugin(
    fetched: &Fetched,
    options: &SourceOptions,
    keyring: &mut Keyring,
    interactive: bool,
) -> anyhow::Result<(Manifest, Option<TrustedSigner>)> {
    let source = &fetched.source;
    let manifest = chitin_manifest::extract_manifest(&fetched.wasm)
        .map_err(|err| anyhow::anyhow!("{source} is not an installable plugin: {err}"))?;
    manifest
        .check_wit_version()
        .map_err(|err| anyhow::anyhow!("{source}: {err}"))?;
    let status = chitin_install::verify(&fetched.wasm)
        .map_err(|err| anyhow::anyhow!("refusing {source}: {err}"))?;
    let signer = match status {
        SignatureStatus::Unsigned => {
            if !options.allow_unsigned {
                anyhow::bail!(
                    "refusing {source}: it is not signed, so nothing says who made it or that it \
                     is unchanged; pass --allow-unsigned to install it anyway (only for a plugin \
                     you built yourself or verified another way, e.g. with --sha256)"
                );
            }
            return Ok((manifest, None));
        }
        SignatureStatus::Signed(signer) => signer,
    };
    match keyring.check(&signer) {
        Trust::Trusted { publisher, .. } => Ok((
            manifest,
            Some(TrustedSigner {
                signer,
                publisher,
                newly_trusted: false,
            }),
        )),
        Trust::Unknown => {
            let describe_key = format!(
                "  publisher (as the key holder says): {}\n  key id:     {}\n  public key: {}",
                signer.publisher,
                signer.key_id,
                signer.public_key_base64()
            );
            let accepted = match options.trust_key.as_deref() {
                Some("") => true,
                Some(wanted) if wanted == signer.key_id => true,
                Some(wanted) => anyhow::bail!(
                    "refusing {source}: --trust-key={wanted} was given, but it is signed by a \
                     different key:\n{describe_key}"
                ),
                None if interactive => {
                    println!("{source} is signed by a key you have not trusted yet:");
                    println!("{describe_key}");
                    println!(
                        "Check the key id with the publisher through another channel (their \
                         website, a keyring they publish)."
                    );
                    ask(&format!(
                        "Trust this key for plugins signed by \"{}\"?",
                        signer.publisher
                    ))?
                }
                None => anyhow::bail!(
                    "refusing {source}: it is signed by a key you have not trusted:\n\
                     {describe_key}\nCheck the key id with the publisher, then re-run with \
                     --trust-key={} (or add the key to a keyring)",
                    signer.key_id
                ),
            };
            if !accepted {
                anyhow::bail!("not installed: the signer's key was not trusted");
            }
            keyring.trust(
                &signer,
                &format!(
                    "trusted on first use, installing {} {} from {source}",
                    manifest.id, manifest.version
                ),
            );
            Ok((
                manifest,
                Some(TrustedSigner {
                    publisher: signer.publisher.clone(),
                    signer,
                    newly_trusted: true,
                }),
            ))
        }
    }
}

/// Prints what the plugin is and what it requests.
fn show_plugin(m: &Manifest, fetched: &Fetched, signer: Option<&TrustedSigner>) {
    println!("{} {} ({})", m.name, m.version, m.id);
    if !m.description.trim().is_empty() {
        println!("  {}", m.description.trim());
    }
    println!(
        "  kind: {}, language: {}, built for {}@{}",
        m.kind,
        m.language,
        chitin_manifest::WIT_PACKAGE,
        m.wit_version
    );
    println!("  from:      {}", fetched.source);
    println!("  sha256:    {}", fetched.digest);
    match signer {
        None => println!("  signed by: NOBODY (unsigned; installed because of --allow-unsigned)"),
        Some(s) => {
            let when = if s.newly_trusted {
                "trusted just now"
            } else {
                "a trusted key"
            };
            println!(
                "  signed by: {} (key {}, {when})",
                s.publisher, s.signer.key_id
            );
            if s.signer.publisher != s.publisher {
                println!(
                    "             the signature names the publisher \"{}\"",
                    s.signer.publisher
                );
            }
        }
    }
    println!("  it requests:");
    for line in describe::requests(m) {
        println!("    - {line}");
    }
    if m.kind == chitin_manifest::PluginKind::Tool {
        println!("  its tools:");
        for line in describe::effects(m) {
            println!("    - {line}");
        }
    }
}

fn show_grant(m: &Manifest, grant: &Grant) -> anyhow::Result<()> {
    println!("  it will be granted:");
    for line in describe::granted(m, grant) {
        println!("    - {line}");
    }
    let budgets = m
        .budgets
        .overridden_by(&grant.budgets)
        .resolve(m.language)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    println!("  budgets per call:");
    for line in describe::budgets(&budgets) {
        println!("    - {line}");
    }
    Ok(())
}

fn read_grant(path: &Path) -> anyhow::Result<Grant> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading grant {}", path.display()))?;
    toml::from_str(&text).map_err(|err| anyhow::anyhow!("grant {}: {err}", path.display()))
}

/// The grant to propose in a terminal: everything requested, with the host directory of each
/// requested mount and each config value asked for.
fn ask_grant(m: &Manifest) -> anyhow::Result<Grant> {
    let mut grant = Grant::all_requested(m);
    for file in &m.capabilities.files {
        let answer = ask_text(&format!(
            "Host directory to mount at {} ({}{}); empty to not grant it:",
            file.path,
            file.access,
            if file.description.is_empty() {
                String::new()
            } else {
                format!(", {}", file.description)
            }
        ))?;
        if answer.is_empty() {
            continue;
        }
        let dir = std::path::absolute(&answer)?;
        if !dir.is_dir() {
            anyhow::bail!("{} is not a directory", dir.display());
        }
        grant.files.push(chitin_manifest::FileGrant {
            path: file.path.clone(),
            host_dir: dir,
            access: file.access,
        });
    }
    for config in &m.capabilities.config {
        let answer = ask_text(&format!(
            "Value for config `{}`{}{}:",
            config.key,
            if config.description.is_empty() {
                String::new()
            } else {
                format!(" ({})", config.description)
            },
            if config.required {
                " (required)"
            } else {
                " (empty: unset)"
            }
        ))?;
        if answer.is_empty() {
            if config.required {
                anyhow::bail!("config `{}` is required", config.key);
            }
            continue;
        }
        grant.config.insert(config.key.clone(), answer);
    }
    Ok(grant)
}

fn ask(question: &str) -> anyhow::Result<bool> {
    let answer = ask_text(&format!("{question} [y/N]"))?;
    Ok(matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn ask_text(question: &str) -> anyhow::Result<String> {
    eprint!("{question} ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn is_interactive(options: &SourceOptions) -> bool {
    !options.yes && std::io::stdin().is_terminal()
}

/// Compiles the plugin into the AOT cache and links it against its world with `grant`, as the
/// gateway will, showing a spinner on stderr. Nothing of the plugin runs.
fn precompile(
    home: &Home,
    config: &Config,
    m: &Manifest,
    wasm: &[u8],
    grant: &Grant,
) -> anyhow::Result<()> {
    let sandbox = super::open_sandbox(home, config)?;
    let slow = matches!(
        m.language,
        chitin_manifest::Language::Python | chitin_manifest::Language::Js
    );
    let label = format!("{} {}", m.id, m.version);
    let started = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| progress(&label, slow, started, &done));
        let result = sandbox.load_bytes(wasm, grant);
        done.store(true, std::sync::atomic::Ordering::Release);
        result
    });
    let plugin = result.map_err(|err| anyhow::anyhow!("{label} does not load: {err}"))?;
    match plugin.cache_outcome() {
        chitin_sandbox::CacheOutcome::Hit => {
            eprintln!("{label}: already compiled for this machine (AOT cache)");
        }
        chitin_sandbox::CacheOutcome::Compiled => eprintln!(
            "compiled {label} for this machine in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    }
    Ok(())
}

/// A spinner with the elapsed time on a terminal; a line every 10 s otherwise.
fn progress(label: &str, slow: bool, started: Instant, done: &std::sync::atomic::AtomicBool) {
    const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
    let tty = std::io::stderr().is_terminal();
    let hint = if slow {
        " (Python and JS plugins take about 35 s)"
    } else {
        ""
    };
    if !tty {
        eprintln!("compiling {label}{hint}…");
    }
    let mut frame = 0;
    let mut last_line = Instant::now();
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        if tty {
            eprint!(
                "\r{} compiling {label}{hint}… {:.0} s",
                FRAMES[frame % FRAMES.len()],
                started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
            frame += 1;
        } else if last_line.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "  still compiling {label} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            last_line = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
}

fn read_config_text(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Validates the edited chitin.toml exactly as start-up does, then writes it atomically.
fn write_config(path: &Path, text: &str) -> anyhow::Result<()> {
    Config::parse(text, path)
        .map_err(|err| anyhow::anyhow!("the edited configuration would be invalid: {err:#}"))?;
    fsutil::write_atomically(path, text.as_bytes(), 0o600)
}

fn signer_fields(signer: Option<&TrustedSigner>) -> (String, String) {
    match signer {
        Some(s) => (s.signer.key_id.clone(), s.publisher.clone()),
        None => (chitin_install::UNSIGNED.to_string(), String::new()),
    }
}

fn install(home: &Home, source: &str, options: &SourceOptions) -> anyhow::Result<ExitCode> {
    if options.yes && options.grant.is_none() {
        anyhow::bail!(
            "--yes needs --grant FILE: without questions, the grant must say exactly what the \
             plugin gets (an empty file grants nothing)"
        );
    }
    let paths = Paths::new(home);
    home.ensure()?;
    let _lock = fsutil::InstallLock::acquire(&paths.root)?;
    let interactive = is_interactive(options);
    let fetched = fetch_source(source, options)?;
    let mut keyring = paths.keyring(&options.keyrings)?;
    let (manifest, signer) = check_plugin(&fetched, options, &mut keyring, interactive)?;
    let id = manifest.id.clone();

    let mut lockfile = Lockfile::load(&paths.lock)?;
    if lockfile.plugins.contains_key(&id) {
        anyhow::bail!(
            "{id} is already installed; use `chitin plugin update {id} {source}` to replace it"
        );
    }
    let config_text = read_config_text(&paths.config)?;
    if config_edit::has_plugin(&config_text, &id)? {
        anyhow::bail!(
            "{} already configures a plugin `{id}` (not installed with `chitin plugin install`); \
             remove its [plugins.{id}] section first",
            paths.config.display()
        );
    }

    show_plugin(&manifest, &fetched, signer.as_ref());
    let grant = match &options.grant {
        Some(path) => read_grant(path)?,
        None if interactive => ask_grant(&manifest)?,
        None => anyhow::bail!(
            "not installed: consent is needed, and stdin is not a terminal to ask on. Review what \
             it requests (above), then re-run with --yes --grant FILE naming exactly what it gets"
        ),
    };
    grant
        .resolve(&manifest)
        .map_err(|err| anyhow::anyhow!("the grant is refused: {err}"))?;
    show_grant(&manifest, &grant)?;
    if !options.yes {
        if !interactive {
            anyhow::bail!(
                "not installed: stdin is not a terminal to ask for consent on; re-run with --yes \
                 to accept the grant above"
            );
        }
        if !ask(&format!("Install {} and grant this?", manifest.name))? {
            anyhow::bail!("not installed");
        }
    }

    let config = Config::load(&paths.config)?;
    precompile(home, &config, &manifest, &fetched.wasm, &grant)?;

    let relative = Paths::relative_file(&id);
    let file = paths.root.join(&relative);
    fsutil::write_atomically(&file, &fetched.wasm, 0o644)?;
    let updated = config_edit::add_plugin(
        &config_text,
        &id,
        &relative,
        &grant,
        &format!(
            "{}, installed by `chitin plugin install` (see plugins.lock)",
            manifest.name
        ),
    )
    .and_then(|text| {
        write_config(&paths.config, &text)?;
        Ok(text)
    });
    if let Err(err) = updated {
        let _ = std::fs::remove_file(&file);
        return Err(err);
    }
    let (signer_id, publisher) = signer_fields(signer.as_ref());
    lockfile.plugins.insert(
        id.clone(),
        LockEntry {
            version: manifest.version.clone(),
            sha256: fetched.digest.clone(),
            signer: signer_id,
            publisher,
            source: fetched.source.clone(),
            file: relative.clone(),
            installed_at: fsutil::now_rfc3339(),
            grant: grant.clone(),
        },
    );
    if let Err(err) = lockfile.save(&paths.lock) {
        // Leave no plugin configured that the lockfile does not know.
        let _ = fsutil::write_atomically(&paths.config, config_text.as_bytes(), 0o600);
        let _ = std::fs::remove_file(&file);
        return Err(err);
    }
    if signer.as_ref().is_some_and(|s| s.newly_trusted) {
        keyring.save()?;
        println!(
            "trusted key {} (\"{}\") in {}",
            signer.as_ref().map_or("", |s| s.signer.key_id.as_str()),
            signer.as_ref().map_or("", |s| s.publisher.as_str()),
            keyring.trusted_path().display()
        );
    }
    println!(
        "installed {id} {} to {}; added [plugins.{id}] to {} (restart a running gateway to load it)",
        manifest.version,
        file.display(),
        paths.config.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn update(
    home: &Home,
    id: &str,
    source: &str,
    options: &SourceOptions,
    allow_downgrade: bool,
) -> anyhow::Result<ExitCode> {
    let paths = Paths::new(home);
    home.ensure()?;
    let _lock = fsutil::InstallLock::acquire(&paths.root)?;
    let mut lockfile = Lockfile::load(&paths.lock)?;
    let Some(entry) = lockfile.plugins.get(id).cloned() else {
        anyhow::bail!(
            "{id} is not installed (it is not in {}); install it with `chitin plugin install`",
            paths.lock.display()
        );
    };
    let interactive = is_interactive(options);
    let fetched = fetch_source(source, options)?;
    let mut keyring = paths.keyring(&options.keyrings)?;
    let (manifest, signer) = check_plugin(&fetched, options, &mut keyring, interactive)?;
    if manifest.id != id {
        anyhow::bail!(
            "refusing the update: {} is plugin `{}`, not `{id}`; an update cannot change the \
             plugin id (install it as a plugin of its own)",
            fetched.source,
            manifest.id
        );
    }
    if chitin_install::is_downgrade(&entry.version, &manifest.version)? && !allow_downgrade {
        anyhow::bail!(
            "refusing to downgrade {id} from {} to {}: an older version may have known \
             problems; pass --allow-downgrade if you mean it",
            entry.version,
            manifest.version
        );
    }
    if fetched.digest == entry.sha256 {
        println!(
            "{id} {} is already installed from this exact file",
            entry.version
        );
        return Ok(ExitCode::SUCCESS);
    }

    // What is installed now: the manifest of the installed file, if it is the one recorded.
    let file = paths.root.join(&entry.file);
    let old_manifest = match std::fs::read(&file) {
        Ok(wasm) if chitin_install::sha256_hex(&wasm) == entry.sha256 => {
            chitin_manifest::extract_manifest(&wasm).ok()
        }
        _ => None,
    };
    let old_manifest = old_manifest.unwrap_or_else(|| {
        println!(
            "note: {} is missing or no longer the installed file; every request is treated as new",
            file.display()
        );
        Manifest {
            capabilities: Default::default(),
            effects: Default::default(),
            ..manifest.clone()
        }
    });
    let config = Config::load(&paths.config)?;
    let current_grant = config
        .plugins
        .get(id)
        .map_or_else(|| entry.grant.clone(), |p| p.grant.clone());

    show_plugin(&manifest, &fetched, signer.as_ref());
    println!("  installed: {} {}", id, entry.version);
    let (new_signer, new_publisher) = signer_fields(signer.as_ref());
    let signer_changed = new_signer != entry.signer;
    if signer_changed {
        println!(
            "  the signer changed: installed from {}, this one from {}",
            if entry.publisher.is_empty() {
                entry.signer.clone()
            } else {
                format!("{} ({})", entry.publisher, entry.signer)
            },
            if new_publisher.is_empty() {
                new_signer.clone()
            } else {
                format!("{new_publisher} ({new_signer})")
            }
        );
    }
    let diff = CapabilityDiff::between(&old_manifest, &manifest);
    if diff.is_empty() {
        println!("  capabilities: unchanged");
    } else {
        println!("  capability changes:");
        for line in diff.lines() {
            println!("    {line}");
        }
    }
    let escalates = diff.escalates();
    let needs_consent = escalates || signer_changed;

    let (grant, question) = match &options.grant {
        Some(path) => (
            read_grant(path)?,
            needs_consent.then(|| format!("Update {id} and grant this?")),
        ),
        None => {
            let (carried, notes) = chitin_install::carry_grant(&current_grant, &manifest);
            for note in notes {
                println!("  note: {note}");
            }
            if escalates {
                if options.yes {
                    anyhow::bail!(
                        "not updated: this version asks for more than the installed one (lines \
                         marked ^ and + above); with --yes, pass --grant FILE with the grant it \
                         should have"
                    );
                }
                if !interactive {
                    anyhow::bail!(
                        "not updated: this version asks for more than the installed one (lines \
                         marked ^ and + above) and stdin is not a terminal to ask on; re-run in a \
                         terminal, or with --yes --grant FILE"
                    );
                }
                let (extended, notes) =
                    chitin_install::extend_grant(&carried, &old_manifest, &manifest);
                for note in notes {
                    println!("  note: {note}");
                }
                (
                    extended,
                    Some(format!("Update {id} and grant what is new?")),
                )
            } else if signer_changed {
                (carried, Some(format!("Update {id} from the new signer?")))
            } else {
                (carried, None)
            }
        }
    };
    grant.resolve(&manifest).map_err(|err| {
        anyhow::anyhow!(
            "the grant does not fit the new version: {err}; pass --grant FILE with one that does"
        )
    })?;
    show_grant(&manifest, &grant)?;
    if let Some(question) = question
        && !options.yes
    {
        if !interactive {
            anyhow::bail!(
                "not updated: this version {} and stdin is not a terminal to ask on; re-run with \
                 --yes to accept",
                why_consent(escalates, signer_changed)
            );
        }
        if !ask(&question)? {
            anyhow::bail!("not updated");
        }
    }

    precompile(home, &config, &manifest, &fetched.wasm, &grant)?;
    let config_text = read_config_text(&paths.config)?;
    let old_wasm = std::fs::read(&file).ok();
    fsutil::write_atomically(&file, &fetched.wasm, 0o644)?;
    let restore_file = || {
        if let Some(old) = &old_wasm {
            let _ = fsutil::write_atomically(&file, old, 0o644);
        }
    };
    if grant != current_grant || !config_edit::has_plugin(&config_text, id)? {
        let edited = if config_edit::has_plugin(&config_text, id)? {
            config_edit::set_grant(&config_text, id, &grant)
        } else {
            config_edit::add_plugin(
                &config_text,
                id,
                &entry.file,
                &grant,
                "installed by `chitin plugin install` (see plugins.lock)",
            )
        };
        if let Err(err) = edited.and_then(|text| write_config(&paths.config, &text)) {
            restore_file();
            return Err(err);
        }
    }
    lockfile.plugins.insert(
        id.to_string(),
        LockEntry {
            version: manifest.version.clone(),
            sha256: fetched.digest.clone(),
            signer: new_signer,
            publisher: new_publisher,
            source: fetched.source.clone(),
            file: entry.file.clone(),
            installed_at: fsutil::now_rfc3339(),
            grant,
        },
    );
    if let Err(err) = lockfile.save(&paths.lock) {
        let _ = fsutil::write_atomically(&paths.config, config_text.as_bytes(), 0o600);
        restore_file();
        return Err(err);
    }
    if signer.as_ref().is_some_and(|s| s.newly_trusted) {
        keyring.save()?;
    }
    remove_artifacts(home, &entry.sha256);
    println!(
        "updated {id} {} → {} (restart a running gateway to load it)",
        entry.version, manifest.version
    );
    Ok(ExitCode::SUCCESS)
}

fn why_consent(escalates: bool, signer_changed: bool) -> &'static str {
    match (escalates, signer_changed) {
        (true, true) => "asks for more than the installed one and has another signer",
        (true, false) => "asks for more than the installed one",
        _ => "has another signer",
    }
}

/// Deletes the AOT artifacts compiled from the file with `digest` (any engine).
fn remove_artifacts(home: &Home, digest: &str) {
    let Ok(entries) = std::fs::read_dir(home.aot_cache()) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("{digest}-"))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// list / remove

fn list(home: &Home, verify: bool, keyrings: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let paths = Paths::new(home);
    let lockfile = Lockfile::load(&paths.lock)?;
    let config = Config::load(&paths.config)?;
    let keyring = if verify {
        Some(paths.keyring(keyrings)?)
    } else {
        None
    };
    if lockfile.plugins.is_empty() && config.plugins.is_empty() {
        println!("no plugins installed (chitin plugin install <file.wasm | https://…>)");
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0;
    for (id, entry) in &lockfile.plugins {
        let signer = if entry.signer == chitin_install::UNSIGNED {
            "unsigned".to_string()
        } else {
            format!("signed by {} ({})", entry.publisher, entry.signer)
        };
        println!(
            "{id} {}  {signer}  sha256 {}  from {}",
            entry.version,
            &entry.sha256[..entry.sha256.len().min(16)],
            entry.source
        );
        if let Some(keyring) = &keyring {
            let configured = config.plugins.get(id).map(|p| chitin_install::Configured {
                path: p.path.as_deref(),
                grant: &p.grant,
            });
            let problems =
                chitin_install::check_installed(&paths.root, id, entry, keyring, configured);
            if problems.is_empty() {
                println!("  ok: file, digest, signature, manifest and grant check out");
            } else {
                failed += 1;
                for problem in problems {
                    println!("  FAIL: {problem}");
                }
            }
        }
    }
    for (id, entry) in &config.plugins {
        if lockfile.plugins.contains_key(id) {
            continue;
        }
        let path = entry
            .path
            .as_ref()
            .map_or("(no path)".to_string(), |p| p.display().to_string());
        println!("{id}  configured by hand in chitin.toml (not installed by chitin): {path}");
    }
    if failed > 0 {
        eprintln!("{failed} installed plugin(s) failed verification");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(home: &Home, id: &str, yes: bool) -> anyhow::Result<ExitCode> {
    let paths = Paths::new(home);
    let _lock = fsutil::InstallLock::acquire(&paths.root)?;
    let mut lockfile = Lockfile::load(&paths.lock)?;
    let config_text = read_config_text(&paths.config)?;
    let entry = lockfile.plugins.get(id).cloned();
    let configured = config_edit::has_plugin(&config_text, id)?;
    if entry.is_none() && !configured {
        anyhow::bail!("no plugin `{id}` is installed or configured");
    }
    let file = entry.as_ref().map(|e| paths.root.join(&e.file));
    let mut what = Vec::new();
    if let Some(file) = &file {
        what.push(format!("delete {}", file.display()));
    }
    if configured {
        what.push(format!(
            "remove [plugins.{id}] from {}",
            paths.config.display()
        ));
    }
    if entry.is_some() {
        what.push("remove it from plugins.lock".to_string());
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "not removed: stdin is not a terminal to ask on; re-run with --yes to {}",
                what.join(", ")
            );
        }
        if !ask(&format!("Remove {id}: {}?", what.join(", ")))? {
            anyhow::bail!("not removed");
        }
    }
    if configured && let Some(text) = config_edit::remove_plugin(&config_text, id)? {
        Config::parse(&text, &paths.config).map_err(|err| {
            anyhow::anyhow!(
                "not removed: chitin.toml still uses `{id}` ({err:#}); remove what refers to it \
                 first"
            )
        })?;
        fsutil::write_atomically(&paths.config, text.as_bytes(), 0o600)?;
    }
    if let Some(entry) = &entry {
        lockfile.plugins.remove(id);
        lockfile.save(&paths.lock)?;
        if let Some(file) = &file {
            match std::fs::remove_file(file) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => eprintln!("warning: could not delete {}: {err}", file.display()),
            }
        }
        remove_artifacts(home, &entry.sha256);
    }
    println!(
        "removed {id} ({}); its key-value data, if any, stays in chitin.db",
        what.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// sign / keygen / new

fn sign(
    file: &Path,
    key: &Path,
    publisher: &str,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let manifest = chitin_manifest::extract_manifest(&wasm).map_err(|err| {
        anyhow::anyhow!(
            "{}: {err} (sign the packed plugin, after `chitin plugin pack`)",
            file.display()
        )
    })?;
    let key = chitin_install::SigningKey::from_file(key)?;
    let signed = chitin_install::sign(&wasm, &key, publisher)?;
    let output = output.unwrap_or(file);
    fsutil::write_atomically(output, &signed, 0o644)?;
    println!(
        "signed {} {} as \"{publisher}\" with key {} into {} (sha256 {})",
        manifest.id,
        manifest.version,
        key.key_id(),
        output.display(),
        chitin_install::sha256_hex(&signed)
    );
    Ok(ExitCode::SUCCESS)
}

fn keygen(output: &Path) -> anyhow::Result<ExitCode> {
    let key = chitin_install::signature::write_new_key(output)?;
    println!("key id:     {}", key.key_id());
    println!("public key: {}", key.public_key_base64());
    eprintln!(
        "wrote the private key to {} (readable by you only; keep it secret, it signs plugins \
         as you). Publish the key id and public key so operators can check them, e.g. as a \
         keyring entry:\n\n[keys.\"{}\"]\npublisher = \"Your Name\"\npublic_key = \"{}\"",
        output.display(),
        key.key_id(),
        key.public_key_base64()
    );
    Ok(ExitCode::SUCCESS)
}

fn new_project(
    name: &str,
    lang: &str,
    kind: &str,
    dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if !template::KINDS.contains(&kind) {
        anyhow::bail!(
            "there is no template for --kind {kind} yet; only {} (providers, channels and MCP \
             bridges: start from the plugins in the Chitin repository)",
            template::KINDS.join(", ")
        );
    }
    if !template::LANGUAGES.contains(&lang) {
        anyhow::bail!(
            "unknown language `{lang}`; choose one of {}",
            template::LANGUAGES.join(", ")
        );
    }
    let id = template::id_from_name(name)?;
    let display = template::display_name(name, &id);
    let dest = std::path::absolute(dir.unwrap_or_else(|| PathBuf::from(&id)))?;
    let cwd = std::env::current_dir()?;
    let checkout = dest
        .parent()
        .and_then(template::find_checkout)
        .or_else(|| template::find_checkout(&cwd));
    let vars = template::variables(&id, &display, checkout.as_deref());
    let written = template::render(lang, &dest, &vars)?;
    println!(
        "created {display} ({id}), a {lang} {kind} plugin, in {}:",
        dest.display()
    );
    for file in &written {
        println!("  {}", file.display());
    }
    if lang == "rust" {
        match &checkout {
            Some(root) => println!(
                "chitin-sdk comes from this checkout ({}/sdk/rust)",
                root.display()
            ),
            None => println!(
                "chitin-sdk comes from {} (git); see Cargo.toml to pin a release",
                template::SDK_GIT
            ),
        }
        println!(
            "next:\n  cd {}\n  cargo build --target wasm32-wasip2 --release\n  chitin plugin pack \
             plugin.toml target/wasm32-wasip2/release/{}.wasm -o {id}.wasm\n  chitin tool call \
             ./{id}.wasm {} '{{\"name\": \"Ada\"}}'",
            dest.display(),
            id.replace('-', "_"),
            id.replace('-', "_"),
        );
    } else {
        println!("next: see README.md in {}", dest.display());
    }
    Ok(ExitCode::SUCCESS)
}
