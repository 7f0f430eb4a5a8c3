mod common;

use std::path::{Path, PathBuf};

use chitin_workspace::{
    HostProbe, MAX_SKILL_READ_BYTES, SkillSet, SkillSource, SystemProbe, WorkspaceError,
    truncation_marker,
};
use common::{TempDir, write};
use serde_json::json;

fn skill(dir: &Path, name: &str, description: &str, extra: &str) -> PathBuf {
    let path = dir.join(name).join("SKILL.md");
    write(
        &path,
        &format!(
            "---\nname: {name}\ndescription: {description}\n{extra}---\n# {name}\n\nDo the thing.\n"
        ),
    );
    path
}

#[test]
fn later_directories_override_earlier_ones() {
    let tmp = TempDir::new("precedence");
    let bundled = tmp.path().join("bundled");
    let managed = tmp.path().join("managed");
    let workspace = tmp.path().join("ws/skills");
    skill(&bundled, "weather", "Bundled weather", "");
    skill(&bundled, "notes", "Bundled notes", "");
    skill(&managed, "weather", "Managed weather", "");
    skill(&workspace, "weather", "Workspace weather", "");
    skill(&workspace, "alpha", "Workspace alpha", "");

    let dirs = SkillSet::standard_dirs(&bundled, tmp.path(), &tmp.path().join("ws"));
    assert_eq!(dirs[1], (SkillSource::Managed, tmp.path().join("skills")));
    let set = SkillSet::load(&[
        (SkillSource::Bundled, bundled.clone()),
        (SkillSource::Managed, managed),
        (SkillSource::Workspace, workspace.clone()),
        (SkillSource::Workspace, tmp.path().join("does-not-exist")),
    ]);
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let names: Vec<&str> = set.skills().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "notes", "weather"]);
    let weather = set.get("weather").unwrap();
    assert_eq!(weather.description, "Workspace weather");
    assert_eq!(weather.source, SkillSource::Workspace);
    assert_eq!(
        weather.location,
        workspace.join("weather/SKILL.md").canonicalize().unwrap()
    );
    assert_eq!(set.get("notes").unwrap().source, SkillSource::Bundled);
    assert!(set.get("missing").is_none());

    // Reversed order: bundled now has the last word.
    let set = SkillSet::load(&[
        (SkillSource::Workspace, workspace),
        (SkillSource::Bundled, bundled),
    ]);
    assert_eq!(set.get("weather").unwrap().description, "Bundled weather");
}

#[test]
fn malformed_skills_are_reported_not_fatal() {
    let tmp = TempDir::new("malformed");
    let dir = tmp.path().join("skills");
    skill(&dir, "good", "A good skill", "");
    write(&dir.join("no-frontmatter/SKILL.md"), "# Just markdown\n");
    write(
        &dir.join("unclosed/SKILL.md"),
        "---\nname: unclosed\ndescription: x\n",
    );
    skill(&dir, "Bad_Name", "Invalid name", "");
    write(
        &dir.join("mismatch/SKILL.md"),
        "---\nname: other-name\ndescription: x\n---\n",
    );
    write(&dir.join("no-desc/SKILL.md"), "---\nname: no-desc\n---\n");
    write(
        &dir.join("empty-desc/SKILL.md"),
        "---\nname: empty-desc\ndescription: \"  \"\n---\n",
    );
    skill(&dir, "long-desc", &"d".repeat(1025), "");
    skill(&dir, "bad-yaml", "x", "metadata: {\"a\": \n");
    skill(&dir, "alias", "x", "other: *ref\n");
    skill(&dir, "bad-meta", "x", "metadata: [1, 2]\n");
    skill(&dir, "bad-bool", "x", "user-invocable: maybe\n");
    write(&dir.join("no-skill-md/README.md"), "nothing here");
    std::fs::create_dir_all(dir.join("binary")).unwrap();
    std::fs::write(dir.join("binary/SKILL.md"), [0xff, 0xfe, 0x00]).unwrap();
    write(
        &dir.join("huge/SKILL.md"),
        &format!(
            "---\nname: huge\ndescription: x\n---\n{}",
            "x".repeat(300 * 1024)
        ),
    );
    write(&dir.join("loose-file.md"), "ignored: not a directory");
    write(&dir.join(".hidden/SKILL.md"), "ignored: hidden");
    let long_name = "a".repeat(65);
    skill(&dir, &long_name, "too long a name", "");

    let set = SkillSet::load(&[(SkillSource::Workspace, dir)]);
    let names: Vec<&str> = set.skills().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["good"]);
    let problems = set.problems().join("\n");
    for expected in [
        "no-frontmatter",
        "unclosed",
        "Bad_Name",
        "other-name",
        "no-desc",
        "empty-desc",
        "long-desc",
        "bad-yaml",
        "alias",
        "bad-meta",
        "bad-bool",
        "no-skill-md",
        "binary",
        "huge",
        long_name.as_str(),
    ] {
        assert!(
            problems.contains(expected),
            "no problem mentions {expected}:\n{problems}"
        );
    }
    assert_eq!(set.problems().len(), 15, "{problems}");
    assert!(
        set.problems()
            .iter()
            .all(|p| p.starts_with("workspace skill ") && p.ends_with("; skipped"))
    );
}

#[test]
fn frontmatter_fields_and_metadata() {
    let tmp = TempDir::new("fields");
    let dir = tmp.path().join("skills");
    skill(
        &dir,
        "gh-issues",
        "\"Work with GitHub issues: list, triage & label\"",
        "user-invocable: false\ndisable-model-invocation: true\nmetadata:\n  openclaw:\n    requires:\n      bins: [gh]\n      env:\n        - GITHUB_TOKEN\n    os: [darwin, linux]\n",
    );
    skill(
        &dir,
        "json-meta",
        "JSON metadata",
        "metadata: {\"chitin\": {\"always\": true, \"requires\": {\"bins\": [\"nope\"]}}}\n",
    );
    skill(
        &dir,
        "string-meta",
        "Quoted JSON metadata",
        "metadata: '{\"openclaw\": {\"emoji\": \"x\"}}'\n",
    );
    skill(&dir, "multi", "|\n  Line one\n  line two", "");
    let set = SkillSet::load(&[(SkillSource::Managed, dir)]);
    assert!(set.problems().is_empty(), "{:?}", set.problems());

    let gh = set.get("gh-issues").unwrap();
    assert_eq!(
        gh.description,
        "Work with GitHub issues: list, triage & label"
    );
    assert!(!gh.user_invocable);
    assert!(!gh.model_invocable);
    assert_eq!(
        gh.metadata["openclaw"]["requires"]["env"],
        json!(["GITHUB_TOKEN"])
    );
    let req = gh.requirements();
    assert_eq!(req.bins, ["gh"]);
    assert_eq!(req.env, ["GITHUB_TOKEN"]);
    assert_eq!(req.os, ["darwin", "linux"]);
    assert!(!req.always);

    let meta = set.get("json-meta").unwrap();
    assert!(meta.user_invocable && meta.model_invocable);
    assert!(meta.requirements().always);
    assert_eq!(
        set.get("string-meta").unwrap().metadata,
        json!({"openclaw": {"emoji": "x"}})
    );
    assert_eq!(set.get("multi").unwrap().description, "Line one\nline two");

    // A skill without metadata gets an empty object.
    let tmp2 = TempDir::new("nometa");
    skill(tmp2.path(), "plain", "Plain", "");
    let set = SkillSet::load(&[(SkillSource::Bundled, tmp2.path().to_path_buf())]);
    assert_eq!(set.get("plain").unwrap().metadata, json!({}));
    assert_eq!(set.get("plain").unwrap().requirements(), Default::default());
}

struct FakeHost {
    bins: Vec<&'static str>,
    env: Vec<&'static str>,
    os: &'static str,
}

impl HostProbe for FakeHost {
    fn has_bin(&self, name: &str) -> bool {
        self.bins.contains(&name)
    }
    fn has_env(&self, name: &str) -> bool {
        self.env.contains(&name)
    }
    fn config_truthy(&self, path: &str) -> bool {
        path == "browser.enabled"
    }
    fn os(&self) -> String {
        self.os.to_string()
    }
}

#[test]
fn gating_by_requirements() {
    let tmp = TempDir::new("gating");
    let dir = tmp.path().join("skills");
    skill(
        &dir,
        "needs-gh",
        "x",
        "metadata: {\"openclaw\": {\"requires\": {\"bins\": [\"gh\"], \"env\": [\"GH_TOKEN\"]}}}\n",
    );
    skill(
        &dir,
        "any-bin",
        "x",
        "metadata: {\"openclaw\": {\"requires\": {\"anyBins\": [\"rg\", \"grep\"]}}}\n",
    );
    skill(
        &dir,
        "mac-only",
        "x",
        "metadata: {\"openclaw\": {\"os\": [\"darwin\"]}}\n",
    );
    skill(
        &dir,
        "config",
        "x",
        "metadata: {\"openclaw\": {\"requires\": {\"config\": [\"browser.enabled\"]}}}\n",
    );
    skill(
        &dir,
        "always",
        "x",
        "metadata: {\"openclaw\": {\"always\": true, \"os\": [\"win32\"]}}\n",
    );
    skill(&dir, "free", "x", "");
    let host = FakeHost {
        bins: vec!["grep"],
        env: vec![],
        os: "linux",
    };
    let mut set = SkillSet::load(&[(SkillSource::Bundled, dir)]);
    let dropped = set.retain_eligible(&host);
    let names: Vec<&str> = set.skills().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["always", "any-bin", "config", "free"]);
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert!(dropped[0].contains("mac-only") && dropped[0].contains("darwin"));
    assert!(
        dropped[1].contains("needs-gh")
            && dropped[1].contains("`gh`")
            && dropped[1].contains("GH_TOKEN")
    );

    set.retain(|s| s.name != "free");
    assert!(set.get("free").is_none());
    assert!(set.get("config").is_some());

    let probe = SystemProbe {
        config: json!({"a": {"b": true, "c": 0}}),
    };
    assert!(probe.config_truthy("a.b"));
    assert!(!probe.config_truthy("a.c"));
    assert!(!probe.config_truthy("a.d"));
    assert!(!probe.has_bin("../escape"));
    assert!(!probe.has_bin("chitin-no-such-binary-xyz"));
    assert!(!probe.os().is_empty());
}

#[test]
fn prompt_block_lists_and_escapes() {
    let tmp = TempDir::new("prompt");
    let dir = tmp.path().join("skills");
    skill(
        &dir,
        "cooking",
        "\"Recipes <b>&</b> \\\"meal\\\" plans\"",
        "",
    );
    skill(
        &dir,
        "hidden",
        "User-only",
        "disable-model-invocation: true\n",
    );
    skill(&dir, "alpha", "First\n  with   spaces", "");
    let set = SkillSet::load(&[(SkillSource::Workspace, dir)]);
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let block = set.prompt_block();
    assert!(block.contains("read_skill"));
    assert!(block.contains("<available_skills>\n"));
    assert!(block.ends_with("</available_skills>\n"));
    assert!(block.contains(
        "<description>Recipes &lt;b&gt;&amp;&lt;/b&gt; &quot;meal&quot; plans</description>"
    ));
    assert!(block.contains("<name>cooking</name>"));
    assert!(block.contains("<description>First with spaces</description>"));
    let loc = set
        .get("cooking")
        .unwrap()
        .location
        .to_string_lossy()
        .into_owned();
    assert!(block.contains(&format!("<location>{loc}</location>")));
    assert!(
        !block.contains("hidden"),
        "disable-model-invocation skills stay out of the prompt"
    );
    assert!(
        !block.contains("Do the thing"),
        "bodies never enter the prompt"
    );
    assert!(
        block.find("<name>alpha</name>").unwrap() < block.find("<name>cooking</name>").unwrap()
    );
    assert_eq!(block.matches("<skill>").count(), 2);

    // Limited: only what fits, and a note about the rest.
    let first_entry_end = block.find("</skill>\n").unwrap() + "</skill>\n".len();
    let limit = first_entry_end + "</available_skills>\n".len();
    let limited = set.prompt_block_limited(limit);
    assert_eq!(limited.matches("<skill>").count(), 1);
    assert!(limited.contains("(1 more skills are installed but not listed here.)"));

    assert_eq!(SkillSet::load(&[]).prompt_block(), "");
}

#[test]
fn read_returns_full_text_capped() {
    let tmp = TempDir::new("read");
    let dir = tmp.path().join("skills");
    let path = skill(&dir, "small", "Small", "");
    write(
        &path,
        "---\nname: small\ndescription: Small\n---\nRun {baseDir}/tool.sh\n",
    );
    write(
        &dir.join("big/SKILL.md"),
        &format!(
            "---\nname: big\ndescription: Big\n---\n{}",
            "é".repeat(100 * 1024)
        ),
    );
    let set = SkillSet::load(&[(SkillSource::Workspace, dir)]);
    let small = set.read("small").unwrap();
    let base = set
        .get("small")
        .unwrap()
        .dir()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        small,
        format!("---\nname: small\ndescription: Small\n---\nRun {base}/tool.sh\n")
    );

    let big = set.read("big").unwrap();
    let body_len = big.rfind("\n[truncated:").unwrap();
    assert!(body_len <= MAX_SKILL_READ_BYTES);
    assert!(big.starts_with("---\nname: big"));
    let header = "---\nname: big\ndescription: Big\n---\n".len();
    let kept_chars = (body_len - header) / 2;
    assert!(big.ends_with(&truncation_marker(100 * 1024 - kept_chars)));

    assert!(matches!(
        set.read("nope"),
        Err(WorkspaceError::UnknownSkill(_))
    ));
}

#[test]
fn tools_wasm_discovery() {
    let tmp = TempDir::new("wasm");
    let dir = tmp.path().join("skills");
    skill(&dir, "with-tools", "Has tools", "");
    write(&dir.join("with-tools/b.wasm"), "\0asm");
    write(&dir.join("with-tools/a.WASM"), "\0asm");
    write(&dir.join("with-tools/readme.txt"), "x");
    write(&dir.join("with-tools/nested/c.wasm"), "\0asm");
    std::fs::create_dir_all(dir.join("with-tools/dir.wasm")).unwrap();
    skill(&dir, "no-tools", "None", "");
    let set = SkillSet::load(&[(SkillSource::Bundled, dir.clone())]);
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    let skill_dir = dir.join("with-tools").canonicalize().unwrap();
    assert_eq!(
        set.get("with-tools").unwrap().tools_wasm,
        [skill_dir.join("a.WASM"), skill_dir.join("b.wasm")]
    );
    assert!(set.get("no-tools").unwrap().tools_wasm.is_empty());
}

#[cfg(unix)]
#[test]
fn symlinks_leaving_the_skills_directory_are_refused() {
    use std::os::unix::fs::symlink;
    let tmp = TempDir::new("skill-links");
    let dir = tmp.path().join("skills");
    let outside = tmp.path().join("elsewhere");
    skill(&outside, "linked", "Outside", "");
    write(&outside.join("evil.wasm"), "\0asm");
    std::fs::create_dir_all(&dir).unwrap();
    symlink(outside.join("linked"), dir.join("linked")).unwrap();
    skill(&dir, "tool-link", "Links a tool", "");
    symlink(outside.join("evil.wasm"), dir.join("tool-link/evil.wasm")).unwrap();
    skill(&dir, "file-link", "x", "");
    std::fs::remove_file(dir.join("file-link/SKILL.md")).unwrap();
    symlink(
        outside.join("linked/SKILL.md"),
        dir.join("file-link/SKILL.md"),
    )
    .unwrap();
    skill(&dir, "fine", "Fine", "");

    let set = SkillSet::load(&[(SkillSource::Managed, dir)]);
    let names: Vec<&str> = set.skills().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fine"]);
    assert_eq!(set.problems().len(), 3, "{:?}", set.problems());
}

#[test]
fn bundled_skills_load_cleanly() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../skills");
    let set = SkillSet::load(&[(SkillSource::Bundled, bundled)]);
    assert!(set.problems().is_empty(), "{:?}", set.problems());
    assert!(set.skills().len() >= 3);
    for name in ["daily-notes", "research", "summarize-url"] {
        let s = set
            .get(name)
            .unwrap_or_else(|| panic!("bundled skill {name} missing"));
        assert_eq!(s.source, SkillSource::Bundled);
        assert!(s.model_invocable);
        let text = set.read(name).unwrap();
        assert!(text.len() > 500, "{name} has too little instruction");
    }
    let block = set.prompt_block();
    assert_eq!(block.matches("<skill>").count(), set.skills().len());
    // The bundled skills run on the built-in tools alone.
    let host = FakeHost {
        bins: vec![],
        env: vec![],
        os: "linux",
    };
    let mut gated = set.clone();
    assert!(gated.retain_eligible(&host).is_empty());
}
