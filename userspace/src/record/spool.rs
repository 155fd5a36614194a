//! Recordings that arrive as a stream (`-` for standard input, a pipe, a
//! FIFO, `<(ssh lpar cat f)`) are copied into an anonymous file of this
//! process first, because the reader seeks (header, footer, blocks).
//!
//! The copy is an `O_TMPFILE` file in the temp folder (disk-backed where
//! the folder is, no name, so no other process can open or replace it,
//! gone when lpmtrace exits) or, where that is not supported, a `memfd`.
//! The same in-memory file holds the embedded demo recording.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Copies `input` to its end into an anonymous file, positioned at 0.
/// A stream that does not start with `magic` is not copied further than
/// its first bytes (so the reader's error comes at once, not after
/// `cat /dev/zero |` filled the disk).
pub fn spool(mut input: impl Read, magic: &[u8]) -> io::Result<File> {
    let mut file = match File::options()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(std::env::temp_dir())
    {
        Ok(f) => f,
        Err(_) => memfd("lpmtrace-spool", false)?,
    };
    let mut head = vec![0u8; magic.len()];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    file.write_all(&head[..got])?;
    if head[..got] == *magic {
        io::copy(&mut input, &mut file)?;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

fn memfd(name: &str, sealing: bool) -> io::Result<File> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = libc::MFD_CLOEXEC | if sealing { libc::MFD_ALLOW_SEALING } else { 0 };
    // SAFETY: a NUL-terminated name and valid flags; the result is checked.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// `bytes` as a sealed, read-only in-memory file of this process, and a
/// path that opens it (`/proc/self/fd/N`; the descriptor stays open for
/// the life of the process).
pub fn memory_file(name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    use std::os::fd::{AsRawFd, IntoRawFd};
    let mut file = memfd(name, true)?;
    file.write_all(bytes)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on an open descriptor of ours; the result is checked.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.into_raw_fd()));
    if !path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not there (is /proc mounted?)", path.display()),
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_becomes_a_seekable_file() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut f = spool(&data[..], &data[..3]).unwrap();
        let mut back = Vec::new();
        f.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        f.seek(SeekFrom::Start(7)).unwrap();
        let mut one = [0u8; 1];
        f.read_exact(&mut one).unwrap();
        assert_eq!(one[0], 7);
    }

    #[test]
    fn a_stream_without_the_magic_stops_at_its_first_bytes() {
        let endless = std::io::repeat(0).take(1 << 40);
        let mut f = spool(endless, b"LPMT").unwrap();
        let mut back = Vec::new();
        f.read_to_end(&mut back).unwrap();
        assert_eq!(back, [0, 0, 0, 0]);
    }

    #[test]
    fn a_memory_file_is_read_only() {
        let p = memory_file("t", b"hello").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&p) {
            assert!(w.write_all(b"planted").is_err(), "a sealed memfd took a write");
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
    }
}
