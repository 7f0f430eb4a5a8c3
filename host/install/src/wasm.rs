//! Top-level custom sections of a component: finding, removing and appending them.
//!
//! `chitin_manifest::read_custom_sections` gives a section's data but not where the whole
//! section starts, which removing it needs; the walk is a dozen lines, so it is repeated here
//! rather than widening that crate's API.

use std::ops::Range;

const MAGIC: &[u8; 4] = b"\0asm";
const HEADER_LEN: usize = 8;
const CUSTOM_SECTION_ID: u8 = 0;

/// One top-level custom section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomSection {
    pub name: String,
    /// The whole section, from its id byte to the end of its payload.
    pub whole: Range<usize>,
    /// The data after the name.
    pub data: Range<usize>,
}

fn read_u32(wasm: &[u8], pos: &mut usize) -> anyhow::Result<u32> {
    let start = *pos;
    let mut result: u32 = 0;
    for i in 0..5 {
        let Some(&byte) = wasm.get(*pos) else {
            anyhow::bail!("the file is cut short at byte {start} (inside a section header)");
        };
        *pos += 1;
        if i == 4 && byte & 0xf0 != 0 {
            anyhow::bail!("malformed section size at byte {start}");
        }
        result |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(result);
        }
    }
    anyhow::bail!("malformed section size at byte {start}")
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

/// Every top-level custom section, in file order.
pub fn custom_sections(wasm: &[u8]) -> anyhow::Result<Vec<CustomSection>> {
    if wasm.len() < HEADER_LEN || &wasm[..4] != MAGIC {
        anyhow::bail!("this is not a WebAssembly file (it does not start with \\0asm)");
    }
    let mut pos = HEADER_LEN;
    let mut found = Vec::new();
    while pos < wasm.len() {
        let start = pos;
        let id = wasm[pos];
        pos += 1;
        let size = read_u32(wasm, &mut pos)? as usize;
        let Some(end) = pos.checked_add(size).filter(|end| *end <= wasm.len()) else {
            anyhow::bail!(
                "section {id} at byte {start} claims {size} bytes but only {} remain (the file \
                 is truncated or corrupt)",
                wasm.len() - pos
            );
        };
        if id == CUSTOM_SECTION_ID {
            let mut name_pos = pos;
            let name_len = read_u32(&wasm[..end], &mut name_pos)? as usize;
            let Some(name_end) = name_pos.checked_add(name_len).filter(|e| *e <= end) else {
                anyhow::bail!("a custom section name at byte {name_pos} runs past its section");
            };
            let name = std::str::from_utf8(&wasm[name_pos..name_end]).map_err(|_| {
                anyhow::anyhow!("a custom section name at byte {name_pos} is not UTF-8")
            })?;
            found.push(CustomSection {
                name: name.to_string(),
                whole: start..end,
                data: name_end..end,
            });
        }
        pos = end;
    }
    Ok(found)
}

/// `wasm` without any top-level custom section called `name`; every other byte is kept, in
/// order.
pub fn without_sections(wasm: &[u8], name: &str) -> anyhow::Result<Vec<u8>> {
    let sections = custom_sections(wasm)?;
    let mut out = Vec::with_capacity(wasm.len());
    let mut copied_to = 0;
    for section in sections.iter().filter(|s| s.name == name) {
        out.extend_from_slice(&wasm[copied_to..section.whole.start]);
        copied_to = section.whole.end;
    }
    out.extend_from_slice(&wasm[copied_to..]);
    Ok(out)
}

/// `wasm` with a custom section `name` holding `data` appended at the end.
pub fn append_section(wasm: &[u8], name: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut payload = Vec::with_capacity(name.len() + data.len() + 5);
    write_u32(&mut payload, u32::try_from(name.len())?);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut out = Vec::with_capacity(wasm.len() + payload.len() + 6);
    out.extend_from_slice(wasm);
    out.push(CUSTOM_SECTION_ID);
    write_u32(
        &mut out,
        u32::try_from(payload.len())
            .map_err(|_| anyhow::anyhow!("a custom section cannot hold 4 GiB"))?,
    );
    out.extend_from_slice(&payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty component plus one custom section `a`.
    fn sample() -> Vec<u8> {
        let header = b"\0asm\x0d\x00\x01\x00".to_vec();
        append_section(&header, "a", b"xyz").unwrap()
    }

    #[test]
    fn append_find_and_remove() {
        let wasm = sample();
        let with_b = append_section(&wasm, "b", &[7; 300]).unwrap();
        let sections = custom_sections(&with_b).unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[0].name, "a");
        assert_eq!(&with_b[sections[0].data.clone()], b"xyz");
        assert_eq!(sections[1].name, "b");
        assert_eq!(with_b[sections[1].data.clone()].len(), 300);
        assert_eq!(without_sections(&with_b, "b").unwrap(), wasm);
        assert_eq!(
            without_sections(&with_b, "a").unwrap(),
            append_section(b"\0asm\x0d\x00\x01\x00", "b", &[7; 300]).unwrap()
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(custom_sections(b"hello world").is_err());
        let mut cut = sample();
        cut.pop();
        assert!(custom_sections(&cut).is_err());
    }
}
