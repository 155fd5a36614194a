//! The guest's initramfs: a gzip-compressed cpio archive (newc format) with
//! busybox, lpmtrace, /init, the scenario scripts from xtask/vm/ and the
//! test-only fault-injection modules (/lpmt/ko/<uname -r>/lpm_faultinject.ko).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

use super::faultinject::Module;
use super::guest_tools::Tool;
use super::scenarios;

/// /init (busybox sh).
const INIT: &str = include_str!("../../vm/init.sh");
/// Helpers the scenario scripts source.
const LIB: &str = include_str!("../../vm/lib.sh");

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// A minimal cpio "newc" writer.
struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

impl<W: Write> Cpio<W> {
    fn new(out: W) -> Self {
        Cpio {
            out,
            ino: 1,
            written: 0,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad4(&mut self) -> Result<()> {
        let pad = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..pad])
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) -> Result<()> {
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.ino += 1;
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad4()?;
        self.put(data)?;
        self.pad4()
    }

    fn dir(&mut self, name: &str) -> Result<()> {
        self.entry(name, S_IFDIR | 0o755, &[], (0, 0))
    }

    fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> Result<()> {
        self.entry(name, S_IFREG | perm, data, (0, 0))
    }

    fn chardev(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> Result<()> {
        self.entry(name, S_IFCHR | perm, &[], (major, minor))
    }

    fn finish(mut self) -> Result<W> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, &[], (0, 0))?;
        Ok(self.out)
    }
}

/// Writes the initramfs to `dest`.
pub fn build(dest: &Path, busybox: &Path, lpmtrace: Option<&Path>, modules: &[&Module], tools: &[Tool]) -> Result<()> {
    let f = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let gz = GzEncoder::new(BufWriter::new(f), Compression::fast());
    let mut c = Cpio::new(gz);
    for d in [
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "etc",
        "lpmt",
        "lpmt/scenarios",
    ] {
        c.dir(d)?;
    }
    c.chardev("dev/console", 0o600, 5, 1)?;
    c.chardev("dev/null", 0o666, 1, 3)?;
    let bb = std::fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?;
    c.file("bin/busybox", 0o755, &bb)?;
    c.file("init", 0o755, INIT.as_bytes())?;
    c.file("lpmt/lib.sh", 0o644, LIB.as_bytes())?;
    for sc in scenarios::ALL {
        c.file(&format!("lpmt/scenarios/{}.sh", sc.name), 0o755, sc.script.as_bytes())?;
    }
    if !modules.is_empty() {
        c.dir("lpmt/ko")?;
    }
    for m in modules {
        let data = std::fs::read(&m.ko).with_context(|| format!("reading {}", m.ko.display()))?;
        c.dir(&format!("lpmt/ko/{}", m.release))?;
        c.file(&format!("lpmt/ko/{}/lpm_faultinject.ko", m.release), 0o644, &data)?;
    }
    for t in tools {
        let data = std::fs::read(&t.path).with_context(|| format!("reading {}", t.path.display()))?;
        c.file(&format!("bin/{}", t.name), 0o755, &data)?;
    }
    if let Some(bin) = lpmtrace {
        let data = std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))?;
        c.file("bin/lpmtrace", 0o755, &data)?;
    }
    c.finish()?.finish()?.flush()?;
    let size = std::fs::metadata(dest)?.len();
    println!("vm-test: initramfs {} ({:.1} MB)", dest.display(), size as f64 / 1e6);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout() {
        let mut c = Cpio::new(Vec::new());
        c.file("a", 0o644, b"xyz").unwrap();
        let out = c.finish().unwrap();
        assert!(out.starts_with(b"070701"));
        // header 110 + "a\0" = 112 (aligned), data 3 + pad 1
        assert_eq!(&out[110..112], b"a\0");
        assert_eq!(&out[112..115], b"xyz");
        assert_eq!(out.len() % 4, 0);
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
