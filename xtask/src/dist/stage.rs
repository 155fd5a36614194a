//! What goes into the packages (the manifest) and laying it out as a file
//! tree for each package format.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::{capture, file_name, run_to_file, runner, tool, Arch, META};

/// Files shipped when they exist in the repository: (source, installed
/// path, mode). Adding a packaged file is one line here.
pub const OPTIONAL_FILES: &[(&str, &str, u32)] = &[(
    "packaging/lpmtrace-flight-recorder.service",
    "usr/lib/systemd/system/lpmtrace-flight-recorder.service",
    0o644,
)];

/// Where the package's documentation goes.
pub const DOC_DIR: &str = "usr/share/doc/lpmtrace";

/// The package formats, which differ only in where zsh looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// The tarball (the upstream zsh location).
    Tarball,
    /// Debian and Ubuntu.
    Deb,
    /// RHEL, SLES, Fedora.
    Rpm,
}

/// An installed location.
#[derive(Clone, Debug)]
pub enum Place {
    /// The same path in every format (relative to /).
    At(String),
    /// A zsh completion function of this file name.
    Zsh(String),
}

/// One packaged file.
#[derive(Clone, Debug)]
pub struct Entry {
    pub place: Place,
    pub src: PathBuf,
    pub mode: u32,
}

impl Entry {
    /// Its path relative to / in `flavour`.
    pub fn dest(&self, flavour: Flavour) -> String {
        match &self.place {
            Place::At(p) => p.clone(),
            Place::Zsh(name) => match flavour {
                Flavour::Deb => format!("usr/share/zsh/vendor-completions/{name}"),
                Flavour::Rpm | Flavour::Tarball => format!("usr/share/zsh/site-functions/{name}"),
            },
        }
    }
}

fn at(dest: impl Into<String>, src: impl Into<PathBuf>, mode: u32) -> Entry {
    Entry {
        place: Place::At(dest.into()),
        src: src.into(),
        mode,
    }
}

/// Generates the man pages and completions with `exe` (into `scratch`) and
/// lists every file of the package.
pub fn manifest(root: &Path, exe: &Path, arch: &Arch, scratch: &Path) -> Result<Vec<Entry>> {
    let mut entries = vec![at("usr/bin/lpmtrace", exe, 0o755)];

    let man = scratch.join("man");
    let _ = std::fs::remove_dir_all(&man);
    std::fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    capture(runner(exe, arch)?.arg("manpages").arg("--out").arg(&man))?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&man)
        .with_context(|| format!("cannot list {}", man.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    pages.sort();
    anyhow::ensure!(
        !pages.is_empty(),
        "`lpmtrace manpages` wrote no pages into {}",
        man.display()
    );
    for page in pages {
        let gz = page.with_extension("1.gz");
        gzip(&page, &gz)?;
        entries.push(at(format!("usr/share/man/man1/{}", file_name(&gz)), gz, 0o644));
    }

    let comp = scratch.join("completions");
    std::fs::create_dir_all(&comp).with_context(|| format!("cannot create {}", comp.display()))?;
    for (shell, file) in [("bash", "lpmtrace"), ("zsh", "_lpmtrace"), ("fish", "lpmtrace.fish")] {
        let path = comp.join(format!("{shell}-{file}"));
        run_to_file(runner(exe, arch)?.args(["completions", shell]), &path)?;
        entries.push(match shell {
            "bash" => at(format!("usr/share/bash-completion/completions/{file}"), path, 0o644),
            "zsh" => Entry {
                place: Place::Zsh(file.to_string()),
                src: path,
                mode: 0o644,
            },
            _ => at(format!("usr/share/fish/vendor_completions.d/{file}"), path, 0o644),
        });
    }

    entries.push(at(format!("{DOC_DIR}/README.md"), root.join("README.md"), 0o644));
    let docs = root.join("docs");
    let mut md: Vec<PathBuf> = std::fs::read_dir(&docs)
        .with_context(|| format!("cannot list {}", docs.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    md.sort();
    for doc in md {
        entries.push(at(format!("{DOC_DIR}/docs/{}", file_name(&doc)), doc, 0o644));
    }
    let copyright = scratch.join("copyright");
    std::fs::write(&copyright, copyright_text()).with_context(|| format!("cannot write {}", copyright.display()))?;
    entries.push(at(format!("{DOC_DIR}/copyright"), copyright, 0o644));

    for (src, dest, mode) in OPTIONAL_FILES {
        let src = root.join(src);
        if src.exists() {
            entries.push(at(*dest, src, *mode));
        } else {
            eprintln!("dist: {} not in the repository; not packaged", src.display());
        }
    }
    Ok(entries)
}

fn copyright_text() -> String {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: lpmtrace\n\
         Source: {}\n\n\
         Files: *\n\
         Copyright: the lpmtrace developers\n\
         License: {}\n \
         Dual-licensed: the MIT license, or the Apache License 2.0\n \
         (/usr/share/common-licenses/Apache-2.0 on Debian), at your option.\n",
        META.homepage, META.license
    )
}

/// gzip -9n: no name, no time stamp (Debian policy for man pages; and
/// the same bytes on every build).
fn gzip(src: &Path, dest: &Path) -> Result<()> {
    let data = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    let file = std::fs::File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut enc = flate2::GzBuilder::new().write(file, flate2::Compression::best());
    enc.write_all(&data)
        .and_then(|()| enc.finish().map(drop))
        .with_context(|| format!("writing {}", dest.display()))
}

/// Lays the manifest out under `dir` (emptied first) with the modes set.
pub fn lay_out(entries: &[Entry], flavour: Flavour, dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    for e in entries {
        let dest = dir.join(e.dest(flavour));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(&e.src, &dest)
            .with_context(|| format!("cannot copy {} to {}", e.src.display(), dest.display()))?;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(e.mode))
            .with_context(|| format!("cannot chmod {}", dest.display()))?;
    }
    // Directories 0755 whatever the umask.
    set_dir_modes(dir)
}

fn set_dir_modes(dir: &Path) -> Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", dir.display()))?;
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            set_dir_modes(&e.path())?;
        }
    }
    Ok(())
}

/// Every file under `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let e = e?;
            let path = e.path();
            if e.file_type()?.is_dir() {
                walk(base, &path, out)?;
            } else {
                out.push(path.strip_prefix(base).unwrap_or(&path).to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// `lpmtrace-VERSION-ARCH.tar.gz` holding `usr/...` (unpack with
/// `tar -xzf FILE -C /`, or anywhere and run `usr/bin/lpmtrace`). The
/// top-level folders are named, not `.`, so unpacking into / leaves the
/// mode of / alone.
pub fn tarball(tree: &Path, out: &Path, arch: &Arch) -> Result<PathBuf> {
    let path = out.join(format!("lpmtrace-{}-{}.tar.gz", META.version, arch.name));
    let mut top: Vec<String> = std::fs::read_dir(tree)
        .with_context(|| format!("cannot list {}", tree.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    top.sort();
    tool(
        Command::new("tar")
            .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf"])
            .arg(&path)
            .arg("-C")
            .arg(tree)
            .args(&top),
    )?;
    Ok(path)
}
