//! The .rpm: a generated spec whose %install copies the laid-out tree
//! (nothing is compiled inside rpmbuild), built with `rpmbuild -bb
//! --target ARCH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::stage::{files_under, DOC_DIR};
use super::{file_name, tool, Arch, META};

/// Builds `lpmtrace-VERSION-1.ARCH.rpm` in `out` from `root`, using
/// `topdir` as rpmbuild's scratch folder.
pub fn build(root: &Path, topdir: &Path, out: &Path, arch: &Arch) -> Result<PathBuf> {
    let files = files_under(root)?;
    let _ = std::fs::remove_dir_all(topdir);
    std::fs::create_dir_all(topdir).with_context(|| format!("cannot create {}", topdir.display()))?;
    let spec = topdir.join("lpmtrace.spec");
    std::fs::write(&spec, spec_text(root, &files)).with_context(|| format!("cannot write {}", spec.display()))?;
    tool(
        Command::new("rpmbuild")
            .arg("-bb")
            .args(["--target", arch.rpm])
            .arg("--define")
            .arg(format!("_topdir {}", topdir.display()))
            .arg(&spec),
    )?;
    let built = topdir
        .join("RPMS")
        .join(arch.rpm)
        .join(format!("lpmtrace-{}-1.{}.rpm", META.version, arch.rpm));
    if !built.exists() {
        bail!("rpmbuild did not produce {}", built.display());
    }
    let path = out.join(file_name(&built));
    std::fs::copy(&built, &path).with_context(|| format!("cannot copy {} to {}", built.display(), path.display()))?;
    Ok(path)
}

/// The spec: binary-only (no %build; no strip, no debuginfo, no automatic
/// dependencies: the binary is static and may be for another
/// architecture than the host's tools understand).
pub fn spec_text(root: &Path, files: &[String]) -> String {
    let mut s = format!(
        "Name: lpmtrace\n\
         Version: {version}\n\
         Release: 1\n\
         Summary: {summary}\n\
         License: {license}\n\
         URL: {url}\n\
         AutoReqProv: no\n\
         %global debug_package %{{nil}}\n\
         %global __os_install_post %{{nil}}\n\
         %global _build_id_links none\n\
         \n\
         %description\n\
         {description}\n\
         \n\
         %install\n\
         mkdir -p %{{buildroot}}\n\
         cp -a '{root}/.' %{{buildroot}}/\n\
         \n\
         %files\n\
         %defattr(-,root,root,-)\n\
         %dir /{DOC_DIR}\n\
         %dir /{DOC_DIR}/docs\n",
        version = META.version,
        summary = META.summary,
        license = META.license,
        url = META.homepage,
        description = super::deb::wrap(META.description, 72).join("\n"),
        root = root.display(),
    );
    for f in files {
        s.push('/');
        s.push_str(f);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_lists_every_file_once_and_owns_the_doc_folders() {
        let files = vec!["usr/bin/lpmtrace".to_string(), format!("{DOC_DIR}/README.md")];
        let s = spec_text(Path::new("/tmp/root"), &files);
        assert!(s.contains("\n/usr/bin/lpmtrace\n") && s.contains("\n/usr/share/doc/lpmtrace/README.md\n"));
        assert!(s.contains("%dir /usr/share/doc/lpmtrace\n"));
        assert!(s.contains("cp -a '/tmp/root/.' %{buildroot}/"));
        assert!(s.contains("Version: ") && s.contains("AutoReqProv: no"));
        assert!(!s.contains("%build"), "nothing is compiled inside rpmbuild");
    }
}
