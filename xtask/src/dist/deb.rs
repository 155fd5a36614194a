//! The .deb: a control file written here and `dpkg-deb --build`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::stage::files_under;
use super::{tool, Arch, META};

/// Builds `lpmtrace_VERSION_DEBARCH.deb` in `out` from the laid-out `root`
/// (which gets its DEBIAN/ folder here).
pub fn build(root: &Path, out: &Path, arch: &Arch) -> Result<PathBuf> {
    let mut kib = 0;
    for f in files_under(root)? {
        let len = std::fs::metadata(root.join(&f))?.len();
        kib += len.div_ceil(1024);
    }
    let debian = root.join("DEBIAN");
    std::fs::create_dir_all(&debian).with_context(|| format!("cannot create {}", debian.display()))?;
    let control = debian.join("control");
    std::fs::write(&control, control_text(arch, kib)).with_context(|| format!("cannot write {}", control.display()))?;
    let path = out.join(format!("lpmtrace_{}_{}.deb", META.version, arch.deb));
    tool(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(root)
            .arg(&path),
    )?;
    Ok(path)
}

/// The control file. No Depends: the binary is static and needs nothing
/// but the kernel; powerpc-utils (ppc64_cpu, drmgr) is what the runbook's
/// checks use on POWER.
pub fn control_text(arch: &Arch, installed_kib: u64) -> String {
    let mut c = format!(
        "Package: lpmtrace\n\
         Version: {}\n\
         Architecture: {}\n\
         Maintainer: {}\n\
         Installed-Size: {installed_kib}\n\
         Section: admin\n\
         Priority: optional\n\
         Homepage: {}\n",
        META.version, arch.deb, META.maintainer, META.homepage
    );
    if arch.deb == "ppc64el" {
        c.push_str("Suggests: powerpc-utils\n");
    }
    c.push_str(&format!("Description: {}\n", short_description()));
    for line in wrap(META.description, 72) {
        c.push(' ');
        c.push_str(&line);
        c.push('\n');
    }
    c
}

/// The synopsis: Debian wants it short and without a trailing period.
fn short_description() -> String {
    META.summary.trim_end_matches('.').to_string()
}

/// Greedy word wrap.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::ARCHES;
    use super::*;

    #[test]
    fn control_is_well_formed() {
        let c = control_text(&ARCHES[1], 12345);
        let fields: Vec<&str> = c.lines().filter(|l| !l.starts_with(' ')).collect();
        for want in [
            "Package: lpmtrace",
            "Architecture: ppc64el",
            "Installed-Size: 12345",
            "Suggests: powerpc-utils",
        ] {
            assert!(fields.contains(&want), "{want} missing in\n{c}");
        }
        assert!(fields.iter().all(|l| l.contains(": ")), "{c}");
        assert!(c.ends_with('\n'));
        // Continuation lines are indented, none empty, none too long.
        for l in c.lines().filter(|l| l.starts_with(' ')) {
            assert!(l.len() <= 73 && l.trim().len() > 1, "{l:?}");
        }
        assert!(!control_text(&ARCHES[0], 1).contains("Suggests"));
    }

    #[test]
    fn wrap_keeps_every_word() {
        let text = "a bb ccc dddd eeeee ffffff";
        let lines = wrap(text, 7);
        assert_eq!(lines, ["a bb", "ccc", "dddd", "eeeee", "ffffff"]);
        assert_eq!(lines.join(" "), text);
    }
}
