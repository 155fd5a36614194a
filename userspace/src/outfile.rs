//! Where outputs land: no output ever replaces an input, and none replaces
//! an existing file unless the user said `--force`.
//!
//! Every file lpmtrace writes besides a recording (`export -o`,
//! `report --html`, flight-recorder dumps) is written under a temporary
//! name in the target's folder and moved into place when complete. The
//! move is a no-replace rename (`renameat2(RENAME_NOREPLACE)`, or a hard
//! link where the file system lacks it), so a file that appeared between
//! the check and the move is not overwritten either.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::Context;

/// What is at an output path, once [`check_output`] allowed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Nothing: the file is created.
    New,
    /// A regular file, to be replaced (`--force`).
    Replace,
    /// A device, FIFO or socket (`/dev/stdout`, `/dev/null`, a pipe): written
    /// into as it is, never replaced.
    Stream,
}

/// Refuses `output` when it is one of `inputs` (the same file, whatever
/// the path: same device and inode, through links and symlinks), when it
/// is a directory, or, without `force`, when it is an existing regular
/// file. A device or FIFO is written into, not replaced, and needs no
/// `--force`.
pub fn check_output(output: &Path, force: bool, inputs: &[&Path]) -> anyhow::Result<Target> {
    let Ok(out_meta) = fs::metadata(output) else {
        return Ok(Target::New);
    };
    for input in inputs {
        let Ok(in_meta) = fs::metadata(input) else { continue };
        if in_meta.dev() == out_meta.dev() && in_meta.ino() == out_meta.ino() {
            anyhow::bail!(
                "{}: this is the input {}; refusing to write over an input (even with --force), choose another output",
                output.display(),
                input.display()
            );
        }
    }
    if out_meta.is_dir() {
        anyhow::bail!("{}: is a directory; give a file name", output.display());
    }
    if !out_meta.is_file() {
        return Ok(Target::Stream);
    }
    if !force {
        anyhow::bail!(
            "{}: already exists; refusing to overwrite it (pass --force to replace it)",
            output.display()
        );
    }
    Ok(Target::Replace)
}

/// Moves `from` to `to` unless `to` exists (then `AlreadyExists`).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
    let (cf, ct) = (c(from)?, c(to)?);
    // SAFETY: both are NUL-terminated paths that live across the call; the
    // directory descriptors are AT_FDCWD.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // The file system (or an old kernel) has no RENAME_NOREPLACE: a
        // hard link fails the same way on an existing name.
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {
            fs::hard_link(from, to)?;
            fs::remove_file(from)
        }
        _ => Err(err),
    }
}

/// Writes `path` through a temporary file in the same folder, moved into
/// place once `fill` succeeded; on failure the temporary is removed. The
/// output is checked with [`check_output`] first and, without `force`,
/// moved with [`rename_noreplace`].
pub fn write_atomically<T>(
    path: &Path,
    force: bool,
    inputs: &[&Path],
    fill: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if check_output(path, force, inputs)? == Target::Stream {
        let file = File::options()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut out = BufWriter::new(file);
        let value = fill(&mut out)?;
        out.flush().with_context(|| format!("writing {}", path.display()))?;
        return Ok(value);
    }
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result: anyhow::Result<T> = (|| {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut out = BufWriter::new(file);
        let value = fill(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error()).context("flushing")?;
        file.sync_all().context("syncing")?;
        // Checked again: an input (or a device) may have appeared there.
        if check_output(path, force, inputs)? == Target::Stream {
            anyhow::bail!("{}: became a device or FIFO while writing", path.display());
        }
        if force {
            fs::rename(&tmp, path)
        } else {
            rename_noreplace(&tmp, path)
        }
        .with_context(|| format!("cannot move {} into place", tmp.display()))?;
        Ok(value)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder for one test (removed when dropped).
    struct Scratch(std::path::PathBuf);
    impl Scratch {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn dir() -> Scratch {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("lpmtrace-outfile-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir(&d).unwrap();
        Scratch(d)
    }

    #[test]
    fn never_over_an_input_even_forced() {
        let d = dir();
        let input = d.path().join("in.lpmt");
        fs::write(&input, b"recording").unwrap();
        let link = d.path().join("alias");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        for force in [false, true] {
            for out in [&input, &link] {
                let e = write_atomically(out, force, &[&input], |w| Ok(w.write_all(b"x")?)).unwrap_err();
                assert!(format!("{e:#}").contains("refusing to write over an input"), "{e:#}");
            }
        }
        assert_eq!(fs::read(&input).unwrap(), b"recording");
        // No temporary left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn existing_needs_force() {
        let d = dir();
        let out = d.path().join("out.json");
        fs::write(&out, b"old").unwrap();
        let e = write_atomically(&out, false, &[], |w| Ok(w.write_all(b"new")?)).unwrap_err();
        assert!(format!("{e:#}").contains("--force"), "{e:#}");
        assert_eq!(fs::read(&out).unwrap(), b"old");
        write_atomically(&out, true, &[], |w| Ok(w.write_all(b"new")?)).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new");
        let fresh = d.path().join("fresh.json");
        write_atomically(&fresh, false, &[], |w| Ok(w.write_all(b"a")?)).unwrap();
        assert_eq!(fs::read(&fresh).unwrap(), b"a");
    }

    #[test]
    fn a_device_is_written_into_never_replaced() {
        let null = Path::new("/dev/null");
        for force in [false, true] {
            write_atomically(null, force, &[], |w| Ok(w.write_all(b"page")?)).unwrap();
            let meta = fs::metadata(null).unwrap();
            assert!(!meta.is_file(), "/dev/null was replaced by a file");
        }
        let d = dir();
        let e = write_atomically(d.path(), true, &[], |w| Ok(w.write_all(b"x")?)).unwrap_err();
        assert!(format!("{e:#}").contains("is a directory"), "{e:#}");
    }

    #[test]
    fn noreplace_rename_refuses_a_late_file() {
        let d = dir();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::write(&a, b"a").unwrap();
        fs::write(&b, b"b").unwrap();
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"b");
        fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&b).unwrap(), b"a");
    }
}
