//! The release artifacts of `cargo xtask dist`, checked with the tools a
//! user and a distribution would use: dpkg-deb, dpkg -x, rpm, tar, man,
//! groff, bash, qemu-user, sha256sum.
//!
//! Building them takes two release builds (minutes on the CI machine), so
//! these tests are `#[ignore]`d in a plain `cargo test`; `cargo xtask test`
//! runs `cargo xtask dist` and then them with `--ignored`. By hand:
//! `cargo xtask dist && cargo test -p xtask --test dist -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The artifacts folder: $LPMTRACE_DIST_DIR (relative to the repository
/// root, like `cargo xtask dist --out`), else target/dist.
fn dist() -> PathBuf {
    let dir =
        root().join(std::env::var_os("LPMTRACE_DIST_DIR").map_or_else(|| PathBuf::from("target/dist"), PathBuf::from));
    assert!(
        dir.join("SHA256SUMS").exists(),
        "no artifacts in {}: run `cargo xtask dist` first",
        dir.display()
    );
    dir
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

/// A fresh scratch folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("lpmtrace-dist-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Unpacks a .deb into a scratch root (what dpkg would install).
fn unpack_deb(arch: &str) -> Scratch {
    let s = Scratch::new(&format!("deb-{arch}"));
    let deb = dist().join(format!("lpmtrace_{VERSION}_{arch}.deb"));
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&s.0));
    s
}

fn unit_in_repo() -> bool {
    root().join("packaging/lpmtrace-flight-recorder.service").exists()
}

/// Paths every package holds (relative to /), zsh aside.
fn expected_files() -> Vec<String> {
    let mut v: Vec<String> = [
        "usr/bin/lpmtrace",
        "usr/share/man/man1/lpmtrace.1.gz",
        "usr/share/man/man1/lpmtrace-report.1.gz",
        "usr/share/man/man1/lpmtrace-record.1.gz",
        "usr/share/man/man1/lpmtrace-live.1.gz",
        "usr/share/man/man1/lpmtrace-dump.1.gz",
        "usr/share/man/man1/lpmtrace-completions.1.gz",
        "usr/share/bash-completion/completions/lpmtrace",
        "usr/share/fish/vendor_completions.d/lpmtrace.fish",
        "usr/share/doc/lpmtrace/README.md",
        "usr/share/doc/lpmtrace/copyright",
        "usr/share/doc/lpmtrace/docs/user-guide.md",
        "usr/share/doc/lpmtrace/docs/runbook.md",
        "usr/share/doc/lpmtrace/docs/packaging.md",
        "usr/share/doc/lpmtrace/docs/analysis.md",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if unit_in_repo() {
        v.push("usr/lib/systemd/system/lpmtrace-flight-recorder.service".into());
    }
    v
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn every_artifact_is_there_and_the_checksums_match() {
    let d = dist();
    let sums = std::fs::read_to_string(d.join("SHA256SUMS")).unwrap();
    let listed: Vec<&str> = sums
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(_, f)| f))
        .collect();
    for arch in ["x86_64", "ppc64le"] {
        for name in [
            format!("lpmtrace-{VERSION}-{arch}"),
            format!("lpmtrace-{VERSION}-{arch}.tar.gz"),
        ] {
            assert!(listed.contains(&name.as_str()), "{name} not in SHA256SUMS:\n{sums}");
        }
    }
    for name in [
        format!("lpmtrace_{VERSION}_amd64.deb"),
        format!("lpmtrace_{VERSION}_ppc64el.deb"),
        format!("lpmtrace-{VERSION}-1.x86_64.rpm"),
        format!("lpmtrace-{VERSION}-1.ppc64le.rpm"),
    ] {
        assert!(listed.contains(&name.as_str()), "{name} not in SHA256SUMS:\n{sums}");
    }
    assert_eq!(listed.len(), 8, "{sums}");
    // sha256sum recomputes every digest.
    let out = stdout(Command::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(&d));
    assert_eq!(out.lines().filter(|l| l.ends_with(": OK")).count(), 8, "{out}");
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn debs_say_what_they_are_and_hold_the_files() {
    for arch in ["amd64", "ppc64el"] {
        let deb = dist().join(format!("lpmtrace_{VERSION}_{arch}.deb"));
        let info = stdout(Command::new("dpkg-deb").arg("--info").arg(&deb));
        for field in [
            "Package: lpmtrace".to_string(),
            format!("Version: {VERSION}"),
            format!("Architecture: {arch}"),
            "Maintainer: ".to_string(),
            "Description: ".to_string(),
        ] {
            assert!(info.contains(&field), "{arch}: no {field:?} in\n{info}");
        }
        let contents = stdout(Command::new("dpkg-deb").arg("--contents").arg(&deb));
        let mut want = expected_files();
        want.push("usr/share/zsh/vendor-completions/_lpmtrace".into());
        for f in &want {
            let line = contents
                .lines()
                .find(|l| l.ends_with(&format!("./{f}")))
                .unwrap_or_else(|| panic!("{arch}: {f} not in the .deb:\n{contents}"));
            assert!(line.contains("root/root"), "{arch}: {line}");
            let mode = if f == "usr/bin/lpmtrace" {
                "-rwxr-xr-x"
            } else {
                "-rw-r--r--"
            };
            assert!(line.starts_with(mode), "{arch}: {line}");
        }
        assert!(
            !contents.contains("lpmtrace-manpages"),
            "{arch}: the hidden subcommand got a man page"
        );
    }
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn rpms_say_what_they_are_and_hold_the_files() {
    for arch in ["x86_64", "ppc64le"] {
        let rpm = dist().join(format!("lpmtrace-{VERSION}-1.{arch}.rpm"));
        let q = stdout(
            Command::new("rpm")
                .args(["-qp", "--queryformat", "%{NAME} %{VERSION} %{ARCH} %{LICENSE}\\n"])
                .arg(&rpm),
        );
        assert_eq!(q.trim(), format!("lpmtrace {VERSION} {arch} MIT OR Apache-2.0"));
        let list = stdout(Command::new("rpm").arg("-qlp").arg(&rpm));
        let mut want = expected_files();
        want.push("usr/share/zsh/site-functions/_lpmtrace".into());
        for f in &want {
            assert!(
                list.lines().any(|l| l == format!("/{f}")),
                "{arch}: /{f} not in the .rpm:\n{list}"
            );
        }
        // No dependency on the host's libraries: the binary is static.
        let req = stdout(Command::new("rpm").arg("-qpR").arg(&rpm));
        assert!(
            req.lines().all(|l| l.starts_with("rpmlib(")),
            "{arch}: unexpected requirements:\n{req}"
        );
    }
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn tarballs_hold_the_same_tree() {
    for arch in ["x86_64", "ppc64le"] {
        let tgz = dist().join(format!("lpmtrace-{VERSION}-{arch}.tar.gz"));
        let list = stdout(Command::new("tar").arg("-tzf").arg(&tgz));
        let mut want = expected_files();
        want.push("usr/share/zsh/site-functions/_lpmtrace".into());
        for f in &want {
            assert!(list.lines().any(|l| l == f), "{arch}: {f} not in the tarball:\n{list}");
        }
        assert!(
            !list.lines().any(|l| l == "./" || l == "."),
            "unpacking into / would touch /"
        );
    }
}

/// Fails unless `path` is a static 64-bit LE ELF executable for `machine`.
fn assert_static_elf(path: &Path, machine: u16) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{}", path.display());
    assert_eq!((b[4], b[5]), (2, 1), "64-bit little-endian");
    let u16le = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    assert_eq!(u16le(18), machine, "{}", path.display());
    let phoff = u64::from_le_bytes(b[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16le(54) as usize, u16le(56) as usize);
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        let kind = u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        assert_ne!(kind, 3, "{} has PT_INTERP: not static", path.display());
    }
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn the_amd64_deb_installs_into_a_root_and_runs() {
    let s = unpack_deb("amd64");
    let bin = s.0.join("usr/bin/lpmtrace");
    assert_static_elf(&bin, 62);
    let v = stdout(Command::new(&bin).arg("--version"));
    assert_eq!(v.trim(), format!("lpmtrace {VERSION}"));
    // A real analysis from the installed binary: the embedded demo.
    let report = stdout(Command::new(&bin).args(["report", "--demo", "--fail-on", "never"]));
    assert!(report.contains("migration"), "{report}");
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn the_ppc64le_binary_runs_under_qemu_user() {
    let s = unpack_deb("ppc64el");
    let bin = s.0.join("usr/bin/lpmtrace");
    assert_static_elf(&bin, 21);
    let v = stdout(Command::new("qemu-ppc64le-static").arg(&bin).arg("--version"));
    assert_eq!(v.trim(), format!("lpmtrace {VERSION}"));
    let report = stdout(Command::new("qemu-ppc64le-static").arg(&bin).args([
        "report",
        "--demo",
        "--json",
        "--fail-on",
        "never",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&report).expect("report --json is JSON");
    assert!(
        doc["migrations"].as_array().is_some_and(|m| !m.is_empty()),
        "{report:.400}"
    );
    // The standalone binary in the folder is the same file.
    let loose = std::fs::read(dist().join(format!("lpmtrace-{VERSION}-ppc64le"))).unwrap();
    assert_eq!(loose, std::fs::read(&bin).unwrap());
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn man_pages_render_without_warnings() {
    let s = unpack_deb("amd64");
    let dir = s.0.join("usr/share/man/man1");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    pages.sort();
    assert!(pages.len() >= 9, "{pages:?}");
    for page in &pages {
        let text = stdout(
            Command::new("man")
                .arg("-l")
                .arg(page)
                .env("MANWIDTH", "80")
                .env("MANPAGER", "cat")
                .env("PAGER", "cat"),
        );
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{}:\n{text}",
            page.display()
        );
        // groff itself, all warnings on: clean roff.
        let roff = s.0.join("page.roff");
        std::fs::write(&roff, stdout(Command::new("zcat").arg(page))).unwrap();
        let out = run(Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(&roff));
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.trim().is_empty(), "{}: {warnings}", page.display());
    }
    let report = stdout(
        Command::new("man")
            .arg("-l")
            .arg(dir.join("lpmtrace-report.1.gz"))
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat"),
    );
    for flag in ["--fail-on", "--json", "--scenario", "--join-stall"] {
        assert!(report.contains(flag), "lpmtrace-report(1) lacks {flag}:\n{report}");
    }
    let main = stdout(
        Command::new("man")
            .arg("-l")
            .arg(dir.join("lpmtrace.1.gz"))
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat"),
    );
    for sub in ["lpmtrace-report(1)", "lpmtrace-record(1)", "lpmtrace-doctor(1)"] {
        assert!(main.contains(sub), "lpmtrace(1) does not point to {sub}:\n{main}");
    }
}

/// Sources the bash completion and asks it to complete `words` (the last
/// one being completed); returns COMPREPLY.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "set -e; source '{}'\n\
         fn=$(complete -p lpmtrace | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')\n\
         [ -n \"$fn\" ] || {{ echo 'no completion function registered for lpmtrace' >&2; exit 1; }}\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}\n\
         \"$fn\" lpmtrace \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$((COMP_CWORD-1))]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        words = quoted.join(" "),
    );
    stdout(Command::new("bash").arg("-c").arg(program))
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn the_bash_completion_is_valid_and_completes() {
    let s = unpack_deb("amd64");
    let script = s.0.join("usr/share/bash-completion/completions/lpmtrace");
    run(Command::new("bash").arg("-n").arg(&script));
    let subs = bash_complete(&script, &["lpmtrace", "re"]);
    assert!(
        subs.contains(&"report".to_string()) && subs.contains(&"record".to_string()),
        "{subs:?}"
    );
    assert!(!subs.iter().any(|w| w == "dump"), "{subs:?}");
    let flags = bash_complete(&script, &["lpmtrace", "report", "--fa"]);
    assert_eq!(flags, ["--fail-on"]);
    let values = bash_complete(&script, &["lpmtrace", "report", "--fail-on", ""]);
    for v in ["critical", "warning", "never"] {
        assert!(values.contains(&v.to_string()), "{values:?}");
    }
    // The other shells' scripts are there and are for lpmtrace.
    let zsh = std::fs::read_to_string(s.0.join("usr/share/zsh/vendor-completions/_lpmtrace")).unwrap();
    assert!(zsh.starts_with("#compdef lpmtrace"), "{zsh:.80}");
    let fish = std::fs::read_to_string(s.0.join("usr/share/fish/vendor_completions.d/lpmtrace.fish")).unwrap();
    assert!(fish.contains("complete -c lpmtrace"), "{fish:.200}");
}

#[test]
#[ignore = "needs `cargo xtask dist` artifacts (cargo xtask test runs it)"]
fn the_systemd_unit_ships_exactly_when_the_repository_has_it() {
    let s = unpack_deb("amd64");
    let shipped = s.0.join("usr/lib/systemd/system/lpmtrace-flight-recorder.service");
    assert_eq!(shipped.exists(), unit_in_repo());
    if unit_in_repo() {
        assert_eq!(
            std::fs::read(&shipped).unwrap(),
            std::fs::read(root().join("packaging/lpmtrace-flight-recorder.service")).unwrap()
        );
    }
}
