//! `chitin-c-tools`: the two steps of building a C plugin that are not clang's.
//!
//! ```text
//! chitin-c-tools bindings <wit-dir> <world> <out-dir>   # <world>.c, <world>.h, <world>_component_type.o
//! chitin-c-tools component <core.wasm> <out.wasm>        # core module -> component (WASI adapted)
//! ```

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["bindings", wit, world, out] => bindings(Path::new(wit), world, Path::new(out)),
        ["component", core, out] => component(Path::new(core), Path::new(out)),
        _ => {
            eprintln!(
                "usage: chitin-c-tools bindings <wit-dir> <world> <out-dir>\n       \
                 chitin-c-tools component <core.wasm> <out.wasm>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chitin-c-tools: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What `wit-bindgen c <wit-dir> --world <world> --out-dir <out>` does.
fn bindings(wit: &Path, world: &str, out: &Path) -> Result<()> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .with_context(|| format!("reading the WIT in {}", wit.display()))?;
    let world = resolve
        .select_world(&[package], Some(world))
        .with_context(|| format!("finding world `{world}` in {}", wit.display()))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// What `wasm-tools component new <core> --adapt wasi_snapshot_preview1=<reactor adapter>` does.
fn component(core: &Path, out: &Path) -> Result<()> {
    let module = std::fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    if !module.starts_with(b"\0asm\x01\0\0\0") {
        bail!("{} is not a core wasm module", core.display());
    }
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .context("reading the component type the bindings embedded in the module")?
        .adapter("wasi_snapshot_preview1", adapter)
        .context("adding the WASI preview1 adapter")?
        .validate(true)
        .encode()
        .context("encoding the component")?;
    std::fs::write(out, component).with_context(|| format!("writing {}", out.display()))
}
