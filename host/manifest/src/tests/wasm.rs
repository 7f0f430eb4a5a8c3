use super::{doc_example, manifest};
use crate::{
    MANIFEST_SECTION, Manifest, ManifestError, embed_manifest, extract_manifest,
    read_custom_sections,
};

const COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
const CORE_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

fn leb(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A custom section with `name` and `data`, encoded by hand (independently of the crate).
fn custom(name: &str, data: &[u8]) -> Vec<u8> {
    let mut payload = leb(name.len());
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut out = vec![0];
    out.extend(leb(payload.len()));
    out.extend(payload);
    out
}

fn component(sections: &[Vec<u8>]) -> Vec<u8> {
    let mut out = COMPONENT.to_vec();
    for s in sections {
        out.extend_from_slice(s);
    }
    out
}

fn example() -> Manifest {
    Manifest::from_toml(&doc_example()).unwrap()
}

#[test]
fn embed_then_extract_round_trips() {
    let m = example();
    let packed = embed_manifest(COMPONENT, &m).unwrap();
    assert!(packed.starts_with(COMPONENT));
    assert_eq!(extract_manifest(&packed).unwrap(), m);
    // The section is what a hand encoder would write.
    assert_eq!(
        packed,
        component(&[custom(MANIFEST_SECTION, m.to_json().as_bytes())])
    );
    let sections = read_custom_sections(&packed).unwrap();
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].0, MANIFEST_SECTION);
    assert_eq!(&packed[sections[0].1.clone()], m.to_json().as_bytes());
}

#[test]
fn embedding_keeps_other_sections_and_replaces_old_manifests() {
    // A non-custom section (id 1: a core module, contents irrelevant here) and two custom ones.
    let core_section = vec![1, 3, 0xaa, 0xbb, 0xcc];
    let original = component(&[
        custom("producers", b"rustc"),
        core_section.clone(),
        custom(MANIFEST_SECTION, b"{\"old\":true}"),
        custom("name", b"\x00\x01x"),
    ]);
    let first = manifest("");
    let packed = embed_manifest(&original, &first).unwrap();
    assert_eq!(extract_manifest(&packed).unwrap(), first);
    let names: Vec<String> = read_custom_sections(&packed)
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["producers", "name", MANIFEST_SECTION]);
    assert!(
        packed
            .windows(core_section.len())
            .any(|w| w == core_section)
    );

    // Re-packing replaces rather than stacks, and packing is deterministic.
    let second = example();
    let repacked = embed_manifest(&packed, &second).unwrap();
    assert_eq!(extract_manifest(&repacked).unwrap(), second);
    let count = read_custom_sections(&repacked)
        .unwrap()
        .iter()
        .filter(|(name, _)| name == MANIFEST_SECTION)
        .count();
    assert_eq!(count, 1);
    assert_eq!(embed_manifest(&original, &second).unwrap(), repacked);
}

#[test]
fn large_manifests_use_multi_byte_sizes() {
    let mut m = manifest("");
    m.description = "d".repeat(70_000);
    let packed = embed_manifest(COMPONENT, &m).unwrap();
    assert_eq!(extract_manifest(&packed).unwrap(), m);
}

fn extract_err(wasm: &[u8]) -> ManifestError {
    match extract_manifest(wasm) {
        Ok(m) => panic!("extracted {m:?} from {wasm:?}"),
        Err(err) => err,
    }
}

#[test]
fn extract_refuses_what_is_not_a_packed_component() {
    assert!(matches!(extract_err(b""), ManifestError::NotWasm));
    assert!(matches!(
        extract_err(b"\x7fELF\x02\x01\x01\0"),
        ManifestError::NotWasm
    ));
    assert!(matches!(
        extract_err(b"hello world, not wasm"),
        ManifestError::NotWasm
    ));
    assert!(
        extract_err(b"")
            .to_string()
            .contains("not a WebAssembly file")
    );

    let core = extract_err(CORE_MODULE);
    assert!(matches!(core, ManifestError::CoreModule));
    let text = core.to_string();
    assert!(text.contains("core wasm module, not a component"), "{text}");
    assert!(
        text.contains("wasm32-wasip2") && text.contains("wasm-tools component new"),
        "{text}"
    );

    assert!(matches!(
        extract_err(b"\0asm"),
        ManifestError::Malformed { .. }
    ));
    assert!(matches!(
        extract_err(b"\0asm\x0d\x00"),
        ManifestError::Malformed { .. }
    ));
    assert!(matches!(
        extract_err(b"\0asm\x02\x00\x00\x00"),
        ManifestError::UnsupportedWasmVersion { .. }
    ));

    let missing = extract_err(&component(&[custom("producers", b"x")]));
    assert!(matches!(missing, ManifestError::MissingSection));
    assert!(
        missing
            .to_string()
            .contains("chitin plugin pack plugin.toml"),
        "{missing}"
    );
    assert!(matches!(
        extract_err(COMPONENT),
        ManifestError::MissingSection
    ));

    let json = manifest("").to_json();
    let two = component(&[
        custom(MANIFEST_SECTION, json.as_bytes()),
        custom(MANIFEST_SECTION, json.as_bytes()),
    ]);
    let err = extract_err(&two);
    assert!(
        matches!(err, ManifestError::DuplicateSection { count: 2 }),
        "{err}"
    );
    assert!(err.to_string().contains("re-pack"), "{err}");
}

#[test]
fn extract_reports_truncation_and_malformed_sections() {
    // A section that claims more bytes than the file has.
    let mut claims_too_much = COMPONENT.to_vec();
    claims_too_much.extend([0, 100, 5]);
    let err = extract_err(&claims_too_much);
    assert!(
        matches!(err, ManifestError::Malformed { offset: 8, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("claims 100 bytes but only 1 remain"),
        "{err}"
    );

    // A size that never ends, and one that overflows 32 bits.
    let mut endless = COMPONENT.to_vec();
    endless.extend([0, 0xff, 0xff]);
    assert!(
        extract_err(&endless)
            .to_string()
            .contains("ends inside the section size")
    );
    let mut overflow = COMPONENT.to_vec();
    overflow.extend([0, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(
        extract_err(&overflow)
            .to_string()
            .contains("does not fit in 32 bits")
    );
    let mut too_long = COMPONENT.to_vec();
    too_long.extend([0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    assert!(
        extract_err(&too_long)
            .to_string()
            .contains("does not fit in 32 bits")
    );

    // A custom section whose name runs past its end.
    let mut long_name = COMPONENT.to_vec();
    long_name.extend([0, 2, 9, b'a']);
    assert!(
        extract_err(&long_name)
            .to_string()
            .contains("name runs past")
    );

    // A name that is not UTF-8.
    let mut bad_name = COMPONENT.to_vec();
    bad_name.extend([0, 2, 1, 0xff]);
    assert!(extract_err(&bad_name).to_string().contains("not UTF-8"));

    // Every prefix of a valid packed file is an error, never a panic or a wrong manifest.
    let packed = embed_manifest(COMPONENT, &example()).unwrap();
    for len in 0..packed.len() {
        assert!(
            extract_manifest(&packed[..len]).is_err(),
            "prefix {len} accepted"
        );
    }
    // Flipping any single byte never panics.
    for i in 0..packed.len() {
        let mut mutated = packed.clone();
        mutated[i] ^= 0xa5;
        let _ = extract_manifest(&mutated);
        let _ = read_custom_sections(&mutated);
    }
}

#[test]
fn extract_reports_bad_manifest_contents() {
    let err = extract_err(&component(&[custom(MANIFEST_SECTION, b"{not json")]));
    assert!(matches!(err, ManifestError::Json(_)), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");

    let mut invalid = manifest("");
    invalid.id = "Not Valid".into();
    let json = serde_json::to_string(&invalid).unwrap();
    let err = extract_err(&component(&[custom(MANIFEST_SECTION, json.as_bytes())]));
    assert!(err.to_string().contains("`id`"), "{err}");

    // A manifest built for another WIT version extracts (so `inspect` can show it) and then
    // fails the version check, naming both versions.
    let mut future = manifest("");
    future.wit_version = "0.3.0".into();
    let json = serde_json::to_string(&future).unwrap();
    let extracted =
        extract_manifest(&component(&[custom(MANIFEST_SECTION, json.as_bytes())])).unwrap();
    let err = extracted.check_wit_version().unwrap_err().to_string();
    assert!(
        err.contains("chitin:plugin@0.3.0") && err.contains("chitin:plugin@0.1.0"),
        "{err}"
    );
}

#[test]
fn embed_refuses_bad_input() {
    let m = manifest("");
    assert!(matches!(
        embed_manifest(CORE_MODULE, &m),
        Err(ManifestError::CoreModule)
    ));
    assert!(matches!(
        embed_manifest(b"nope", &m),
        Err(ManifestError::NotWasm)
    ));
    let mut truncated = COMPONENT.to_vec();
    truncated.extend([1, 10]);
    assert!(matches!(
        embed_manifest(&truncated, &m),
        Err(ManifestError::Malformed { .. })
    ));
    let mut invalid = m.clone();
    invalid.capabilities.outbound = vec!["no-scheme.example".into()];
    let err = embed_manifest(COMPONENT, &invalid).unwrap_err().to_string();
    assert!(err.contains("capabilities.outbound[0]"), "{err}");
}

#[test]
fn read_custom_sections_works_on_core_modules_too() {
    let mut module = CORE_MODULE.to_vec();
    module.extend(custom("name", b"abc"));
    let sections = read_custom_sections(&module).unwrap();
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].0, "name");
    assert_eq!(&module[sections[0].1.clone()], b"abc");
}
