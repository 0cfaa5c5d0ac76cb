//! The Dockerfile must build the image scripts/image builds. No Docker daemon here, so it is
//! read, not built: every part of the recipe (cargo command, Rust targets, RUSTFLAGS, TARGET_CC,
//! the files and their modes, USER, ENTRYPOINT, labels) is compared with
//! `scripts/image --print-config`, which derives it from tools/image/image.env.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `scripts/image --print-config`: `key=value` lines, a key may repeat.
fn recipe() -> BTreeMap<String, Vec<String>> {
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("scripts/image"))
        .arg("--print-config")
        .output()
        .expect("bash runs scripts/image");
    assert!(
        out.status.success(),
        "scripts/image --print-config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        map.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    map
}

fn one<'a>(recipe: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    match recipe.get(key).map(Vec::as_slice) {
        Some([v]) => v,
        other => panic!("--print-config: want one {key}, got {other:?}"),
    }
}

/// Shell-like words: whitespace splits outside double quotes; the quotes go.
fn words(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            '"' => (quoted, any) = (!quoted, true),
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => (cur, any) = (cur + &c.to_string(), true),
        }
    }
    assert!(!quoted, "unbalanced quotes in {s:?}");
    if any {
        out.push(cur);
    }
    out
}

struct Instruction {
    keyword: String,
    args: String,
}

/// The Dockerfile's instructions, continuation lines joined and comments dropped, split into
/// stages at each FROM.
fn stages(dockerfile: &str) -> Vec<Vec<Instruction>> {
    let mut logical = Vec::new();
    let mut cur = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                logical.push(std::mem::take(&mut cur));
            }
        }
    }
    assert!(cur.is_empty(), "the Dockerfile ends in a continuation");
    let mut stages: Vec<Vec<Instruction>> = vec![Vec::new()];
    for l in logical {
        let (k, a) = l.split_once(char::is_whitespace).unwrap_or((&l, ""));
        let ins = Instruction {
            keyword: k.to_uppercase(),
            args: a.trim().to_owned(),
        };
        if ins.keyword == "FROM" {
            stages.push(Vec::new());
        }
        stages.last_mut().unwrap().push(ins);
    }
    stages
}

fn all<'a>(stage: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
        .collect()
}

/// KEY=VALUE pairs of the ENV (or LABEL) instructions of a stage.
fn pairs(stage: &[Instruction], keyword: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for args in all(stage, keyword) {
        for w in words(args) {
            let (k, v) = w
                .split_once('=')
                .unwrap_or_else(|| panic!("{keyword} {w}: no '='"));
            assert!(
                map.insert(k.to_owned(), v.to_owned()).is_none(),
                "{keyword} {k} twice"
            );
        }
    }
    map
}

struct Parsed {
    build: Vec<Instruction>,
    image: Vec<Instruction>,
}

fn dockerfile() -> Parsed {
    let mut s = stages(&read("Dockerfile"));
    assert!(s.len() >= 3, "want a build stage and a final stage");
    let image = s.pop().unwrap();
    let build = s.pop().unwrap();
    assert_eq!(
        image[0].args, "scratch",
        "the image is FROM scratch: no shell, nothing else"
    );
    assert!(
        build[0].args.ends_with("AS build"),
        "the stage before it is `AS build`"
    );
    Parsed { build, image }
}

#[test]
fn the_dockerfile_builds_the_binary_as_scripts_image_does() {
    let r = recipe();
    let d = dockerfile();
    let env = pairs(&d.build, "ENV");
    assert_eq!(
        env.get("RUSTFLAGS").map(String::as_str),
        Some(one(&r, "rustflags")),
        "RUSTFLAGS"
    );
    assert_eq!(
        env.get("TARGET_CC").map(String::as_str),
        Some(one(&r, "target_cc")),
        "TARGET_CC"
    );
    assert_eq!(
        env.get("CARGO_INCREMENTAL").map(String::as_str),
        Some(one(&r, "cargo_incremental")),
        "CARGO_INCREMENTAL"
    );
    // RUSTFLAGS remaps ${SRC}: the sources must be there.
    assert_eq!(all(&d.build, "WORKDIR"), ["${SRC}"], "WORKDIR is ${{SRC}}");
    assert!(env.contains_key("SRC"), "ENV SRC");
    assert!(
        all(&d.build, "COPY").contains(&". ."),
        "COPY . . into ${{SRC}}"
    );

    // The Rust target of each platform.
    let case = all(&d.build, "RUN")
        .into_iter()
        .find(|r| r.contains("$TARGETARCH"))
        .expect("a RUN choosing the Rust target from TARGETARCH");
    let case = words(case).join(" ");
    for arch in ["amd64", "arm64"] {
        let want = format!("{arch}) echo {} ;;", one(&r, &format!("target.{arch}")));
        assert!(
            case.contains(&want),
            "the TARGETARCH case lacks `{want}`: {case}"
        );
    }

    // The cargo command, word for word, plus the target.
    let run = all(&d.build, "RUN")
        .into_iter()
        .find(|r| r.starts_with("cargo "))
        .expect("a RUN starting with cargo");
    let mut cmd = words(run.split("&&").next().unwrap());
    let t = cmd
        .iter()
        .position(|w| w == "--target")
        .expect("cargo --target");
    assert_eq!(
        cmd[t + 1],
        "$(cat /rust-target)",
        "cargo --target is the chosen Rust target"
    );
    cmd.drain(t..t + 2);
    let want: Vec<String> = std::iter::once("cargo".to_owned())
        .chain(words(one(&r, "cargo_args")))
        .collect();
    assert_eq!(cmd, want, "the cargo command");
}

#[test]
fn the_dockerfile_image_is_the_one_scripts_image_assembles() {
    let r = recipe();
    let d = dockerfile();

    for i in &d.image[1..] {
        assert!(
            ["ARG", "COPY", "USER", "ENTRYPOINT", "LABEL"].contains(&i.keyword.as_str()),
            "unexpected {} in the final stage: the image gets files only through COPY",
            i.keyword
        );
    }
    assert_eq!(all(&d.image, "USER"), [one(&r, "user")], "USER");
    let entrypoint: Vec<String> = {
        let e = all(&d.image, "ENTRYPOINT");
        assert_eq!(e.len(), 1, "one ENTRYPOINT");
        serde_json::from_str(e[0]).expect("ENTRYPOINT in exec (JSON) form")
    };
    let want: Vec<String> = serde_json::from_str(one(&r, "entrypoint")).unwrap();
    assert_eq!(entrypoint, want, "ENTRYPOINT");

    // file=<dst> <mode> <source>: the same destinations, modes and sources.
    let mut want = BTreeMap::new();
    for f in &r["file"] {
        let w: Vec<&str> = f.split(' ').collect();
        let [dst, mode, src] = w[..] else {
            panic!("file={f}")
        };
        want.insert(dst.to_owned(), (mode.to_owned(), src.to_owned()));
    }
    let mut got = BTreeMap::new();
    for c in all(&d.image, "COPY") {
        let w = words(c);
        let (flags, paths): (Vec<&String>, Vec<&String>) =
            w.iter().partition(|w| w.starts_with("--"));
        let [src, dst] = paths[..] else {
            panic!("COPY {c}: want one source, one destination")
        };
        let mode = flags
            .iter()
            .find_map(|f| f.strip_prefix("--chmod="))
            .unwrap_or_else(|| panic!("COPY {c}: no --chmod (the mode would be the context's)"));
        let from_build = flags.iter().any(|f| *f == "--from=build");
        assert!(
            got.insert(dst.clone(), (mode.to_owned(), src.clone(), from_build))
                .is_none()
        );
    }
    assert_eq!(
        got.keys().collect::<BTreeSet<_>>(),
        want.keys().collect::<BTreeSet<_>>(),
        "the files of the image"
    );
    for (dst, (mode, src)) in &want {
        let (gmode, gsrc, from_build) = &got[dst];
        let from_build = *from_build;
        assert_eq!(gmode, mode, "mode of {dst}");
        if src == "@binary" {
            assert!(from_build, "{dst} comes from the build stage");
        } else if src.starts_with('/') {
            // A file of the builder's Debian (the CA bundle): the same path there.
            assert!(from_build && gsrc == src, "{dst}: COPY --from=build {src}");
        } else {
            assert!(
                !from_build && gsrc == src,
                "{dst}: COPY {src} from the build context"
            );
        }
    }

    let labels = pairs(&d.image, "LABEL");
    assert_eq!(
        labels
            .keys()
            .map(|k| format!("label={k}"))
            .collect::<BTreeSet<_>>(),
        r["label"].iter().map(|k| format!("label={k}")).collect(),
        "the label keys"
    );
    for (key, values) in r.iter().filter(|(k, _)| k.starts_with("label_value.")) {
        let k = key.strip_prefix("label_value.").unwrap();
        assert_eq!(labels.get(k), values.first(), "label {k}");
    }
}

#[test]
fn the_dockerignore_keeps_what_the_dockerfile_copies_from_the_context() {
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        patterns.iter().any(|p| p.trim_end_matches('/') == "target"),
        "target/ stays out"
    );
    assert!(
        patterns.iter().any(|p| p.trim_end_matches('/') == ".git"),
        ".git/ stays out"
    );
    let r = recipe();
    let context_files = r["file"]
        .iter()
        .filter_map(|f| f.split(' ').nth(2))
        .filter(|s| !s.starts_with('/') && !s.starts_with('@'));
    let needed = [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "crates/azure-sim/Cargo.toml",
    ];
    for file in context_files.chain(needed) {
        assert!(Path::new(ROOT).join(file).is_file(), "{file} exists");
        for p in &patterns {
            let p = p.trim_start_matches("**/").trim_end_matches('/');
            let hit =
                file == p || file.starts_with(&format!("{p}/")) || file.contains(&format!("/{p}/"));
            assert!(!hit, ".dockerignore pattern {p} drops {file}");
        }
    }
}

#[test]
fn the_image_user_is_named_in_passwd_and_group() {
    let r = recipe();
    let (uid, gid) = one(&r, "user").split_once(':').expect("user is uid:gid");
    assert!(uid.parse::<u32>().unwrap() != 0, "not root");
    let passwd = read("tools/image/rootfs/etc/passwd");
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&uid))
        .unwrap_or_else(|| panic!("no passwd entry for uid {uid}"));
    assert_eq!(entry.get(3), Some(&gid), "the passwd entry's group");
    assert_eq!(
        entry.get(6),
        Some(&"/sbin/nologin"),
        "no login shell (there is none)"
    );
    let group = read("tools/image/rootfs/etc/group");
    assert!(
        group.lines().any(|l| l.split(':').nth(2) == Some(gid)),
        "no group {gid}"
    );
}

#[test]
fn the_dockerfile_rust_is_at_least_the_msrv() {
    let stages = stages(&read("Dockerfile"));
    let arg = all(&stages[0], "ARG")
        .into_iter()
        .find_map(|a| a.strip_prefix("RUST_VERSION="))
        .expect("ARG RUST_VERSION=x.y.z before the first FROM");
    let msrv = read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("workspace rust-version");
    let v = |s: &str| {
        s.split('.')
            .map(|n| n.parse::<u32>().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(
        v(arg) >= v(&msrv),
        "Dockerfile Rust {arg} < rust-version {msrv}"
    );
}
