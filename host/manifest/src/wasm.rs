//! Reading and writing the `chitin-manifest` custom section of a component binary.
//!
//! The binary format is simple enough at the top level that a hand-written reader is smaller than
//! a dependency: an 8-byte header, then sections of `id byte, LEB128 u32 size, payload`. A custom
//! section (id 0) starts its payload with a LEB128 name length and the UTF-8 name. Nested
//! modules and components are inside other sections' payloads, so skipping payloads keeps this
//! top-level only.

use std::ops::Range;

use crate::{MANIFEST_SECTION, Manifest, ManifestError};

const MAGIC: &[u8; 4] = b"\0asm";
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
const CORE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
const HEADER_LEN: usize = 8;
const CUSTOM_SECTION_ID: u8 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Component,
    CoreModule,
}

/// One top-level custom section.
struct CustomSection {
    name: String,
    /// The whole section, from its id byte to the end of its payload.
    whole: Range<usize>,
    /// The data after the name.
    data: Range<usize>,
}

fn check_header(wasm: &[u8]) -> Result<Kind, ManifestError> {
    if wasm.len() < MAGIC.len() || &wasm[..MAGIC.len()] != MAGIC {
        return Err(ManifestError::NotWasm);
    }
    let Some(version) = wasm.get(4..HEADER_LEN) else {
        return Err(ManifestError::Malformed {
            offset: wasm.len(),
            problem: "the 8-byte header is cut short".to_string(),
        });
    };
    if version == COMPONENT_VERSION {
        Ok(Kind::Component)
    } else if version == CORE_VERSION {
        Ok(Kind::CoreModule)
    } else {
        Err(ManifestError::UnsupportedWasmVersion {
            version: version
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        })
    }
}

/// Reads an unsigned LEB128 `u32` at `*pos`, advancing `*pos` past it.
fn read_u32(wasm: &[u8], pos: &mut usize, what: &str) -> Result<u32, ManifestError> {
    let start = *pos;
    let mut result: u32 = 0;
    for i in 0..5 {
        let Some(&byte) = wasm.get(*pos) else {
            return Err(ManifestError::Malformed {
                offset: *pos,
                problem: format!("the file ends inside the {what}"),
            });
        };
        *pos += 1;
        // The fifth byte may only carry the top 4 bits of a u32.
        if i == 4 && byte & 0xf0 != 0 {
            return Err(ManifestError::Malformed {
                offset: start,
                problem: format!("the {what} does not fit in 32 bits"),
            });
        }
        result |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(result);
        }
    }
    Err(ManifestError::Malformed {
        offset: start,
        problem: format!("the {what} is longer than 5 bytes"),
    })
}

fn write_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Walks the top-level sections, returning every custom section.
fn custom_sections(wasm: &[u8]) -> Result<(Kind, Vec<CustomSection>), ManifestError> {
    let kind = check_header(wasm)?;
    let mut pos = HEADER_LEN;
    let mut found = Vec::new();
    while pos < wasm.len() {
        let section_start = pos;
        let id = wasm[pos];
        pos += 1;
        let size = read_u32(wasm, &mut pos, "section size")? as usize;
        let payload_start = pos;
        let Some(end) = payload_start
            .checked_add(size)
            .filter(|end| *end <= wasm.len())
        else {
            return Err(ManifestError::Malformed {
                offset: section_start,
                problem: format!(
                    "section {id} claims {size} bytes but only {} remain",
                    wasm.len() - payload_start
                ),
            });
        };
        if id == CUSTOM_SECTION_ID {
            let payload = &wasm[..end];
            let mut name_pos = payload_start;
            let name_len = read_u32(payload, &mut name_pos, "custom section name length")? as usize;
            let Some(name_end) = name_pos.checked_add(name_len).filter(|e| *e <= end) else {
                return Err(ManifestError::Malformed {
                    offset: name_pos,
                    problem: "a custom section name runs past the end of its section".to_string(),
                });
            };
            let name = std::str::from_utf8(&wasm[name_pos..name_end]).map_err(|_| {
                ManifestError::Malformed {
                    offset: name_pos,
                    problem: "a custom section name is not UTF-8".to_string(),
                }
            })?;
            found.push(CustomSection {
                name: name.to_string(),
                whole: section_start..end,
                data: name_end..end,
            });
        }
        pos = end;
    }
    Ok((kind, found))
}

/// Every top-level custom section of a component or core module: its name and the byte range of
/// its data (after the name) in `wasm`.
pub fn read_custom_sections(wasm: &[u8]) -> Result<Vec<(String, Range<usize>)>, ManifestError> {
    let (_, sections) = custom_sections(wasm)?;
    Ok(sections.into_iter().map(|s| (s.name, s.data)).collect())
}

/// Reads and validates the manifest embedded in a component. The WIT version is not checked
/// here (see [`Manifest::check_wit_version`]) so that `inspect` can still describe the plugin.
pub fn extract_manifest(wasm: &[u8]) -> Result<Manifest, ManifestError> {
    // The header decides the most useful error, before any section is read.
    if check_header(wasm)? == Kind::CoreModule {
        return Err(ManifestError::CoreModule);
    }
    let (_, sections) = custom_sections(wasm)?;
    let mut ours = sections.iter().filter(|s| s.name == MANIFEST_SECTION);
    let Some(section) = ours.next() else {
        return Err(ManifestError::MissingSection);
    };
    let extra = ours.count();
    if extra > 0 {
        return Err(ManifestError::DuplicateSection { count: extra + 1 });
    }
    Manifest::from_json(&wasm[section.data.clone()])
}

/// Returns `component` with `manifest` embedded: any existing `chitin-manifest` sections are
/// removed and one new section is appended at the end, so packing twice replaces rather than
/// stacks.
pub fn embed_manifest(component: &[u8], manifest: &Manifest) -> Result<Vec<u8>, ManifestError> {
    manifest.validate()?;
    if check_header(component)? == Kind::CoreModule {
        return Err(ManifestError::CoreModule);
    }
    let (_, sections) = custom_sections(component)?;
    let json = manifest.to_json();
    let name = MANIFEST_SECTION.as_bytes();
    let mut payload = Vec::with_capacity(name.len() + json.len() + 5);
    write_u32(&mut payload, name.len() as u32);
    payload.extend_from_slice(name);
    payload.extend_from_slice(json.as_bytes());
    let payload_len = u32::try_from(payload.len())
        .map_err(|_| ManifestError::SectionTooLarge { bytes: json.len() })?;

    let mut out = Vec::with_capacity(component.len() + payload.len() + 6);
    let mut copied_to = 0;
    for old in sections.iter().filter(|s| s.name == MANIFEST_SECTION) {
        out.extend_from_slice(&component[copied_to..old.whole.start]);
        copied_to = old.whole.end;
    }
    out.extend_from_slice(&component[copied_to..]);
    out.push(CUSTOM_SECTION_ID);
    write_u32(&mut out, payload_len);
    out.extend_from_slice(&payload);
    Ok(out)
}
