//! Durability without stalling the capture: `fdatasync` of the recording
//! after every block, on a thread of its own.
//!
//! The writer runs in the capture loop, which must keep draining the ring
//! buffer; a disk flush can take tens of milliseconds on a busy LPAR's
//! disk. So the writer only asks ([`BackgroundSync::request`]) and this
//! thread syncs. Requests coalesce: while a sync runs, one more request
//! waits (it covers every block written before the next sync starts), so
//! at most one sync is ever queued and the writer never blocks on it.
//!
//! What a power loss or a hard reset can cost is then one block interval
//! (100 ms for `record`) plus the 20 ms reorder window, plus however long
//! one sync takes: [`SyncStats`] says that, and `record` prints it.
//! A failed sync stops the syncing (the kernel may have dropped the dirty
//! pages' error state, so later syncs could falsely succeed) but not the
//! recording: the events are still written and readable unless the power
//! goes, and the failure is reported in [`SyncStats::failure`], which
//! `record` prints as a warning naming the file.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// What the sync thread did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// `fdatasync` calls that returned.
    pub syncs: u64,
    /// Their total time, nanoseconds.
    pub total_ns: u64,
    /// The longest one, nanoseconds: with the block interval, the window a
    /// power loss could cost.
    pub max_ns: u64,
    /// The sync that failed, naming the file; none after it was tried.
    pub failure: Option<String>,
}

impl SyncStats {
    /// `synced to disk after each block: 52 syncs, mean 0.41 ms, longest
    /// 3.10 ms` (what `record` prints when it ends).
    pub fn describe(&self) -> String {
        let ms = |ns: u64| ns as f64 / 1e6;
        format!(
            "synced to disk after each block: {} syncs, mean {:.2} ms, longest {:.2} ms",
            self.syncs,
            ms(self.mean_ns()),
            ms(self.max_ns)
        )
    }

    /// Mean time of one sync, nanoseconds.
    pub fn mean_ns(&self) -> u64 {
        self.total_ns.checked_div(self.syncs).unwrap_or(0)
    }
}

#[derive(Default)]
struct Shared {
    failed: Mutex<Option<String>>,
    syncs: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
}

/// The sync thread of one recording.
pub struct BackgroundSync {
    tx: Option<SyncSender<()>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The folder holding `path` (`.` for a bare name).
fn parent_dir(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// `fsync` of a directory. File systems that cannot sync a directory
/// (`EINVAL`, `EROFS`, `EBADF`: some FUSE and network ones) keep their
/// own ordering; only a real failure (`EIO`, ...) is an error.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let d = match File::open(dir) {
        Ok(d) => d,
        // No read permission on the folder: nothing to sync through.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(()),
        Err(e) => return Err(e),
    };
    match d.sync_all() {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EROFS | libc::EBADF)) => Ok(()),
        r => r,
    }
}

impl BackgroundSync {
    /// Starts a thread that syncs `file` (a second handle to it) on request.
    pub fn start(file: &File, path: &Path) -> std::io::Result<Self> {
        let file = file.try_clone()?;
        let shared = Arc::new(Shared::default());
        // One slot: a queued request covers every write before it runs.
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let s = Arc::clone(&shared);
        let name = path.display().to_string();
        let dir = parent_dir(path);
        let thread = std::thread::Builder::new()
            .name("lpmtrace-sync".into())
            .spawn(move || {
                let mut dir = Some(dir);
                while rx.recv().is_ok() {
                    let t = Instant::now();
                    if let Err(e) = file.sync_data() {
                        let mut f = s.failed.lock().unwrap_or_else(|p| p.into_inner());
                        f.get_or_insert_with(|| format!("{name}: sync to disk: {e}"));
                        return;
                    }
                    // Once, after the first sync: the directory entry, so
                    // the file's name survives a power loss too (the file
                    // was just created; `fdatasync` does not cover it).
                    if let Some(d) = dir.take() {
                        if let Err(e) = sync_dir(&d) {
                            let mut f = s.failed.lock().unwrap_or_else(|p| p.into_inner());
                            f.get_or_insert_with(|| format!("{}: sync to disk: {e}", d.display()));
                            return;
                        }
                    }
                    let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    s.syncs.fetch_add(1, Ordering::Relaxed);
                    s.total_ns.fetch_add(ns, Ordering::Relaxed);
                    s.max_ns.fetch_max(ns, Ordering::Relaxed);
                }
            })?;
        Ok(BackgroundSync {
            tx: Some(tx),
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for a sync of everything written so far; never blocks.
    pub fn request(&self) {
        if let Some(tx) = &self.tx {
            match tx.try_send(()) {
                // Full: a queued request runs after this write anyway.
                // Disconnected: the thread stopped on a failure, which
                // the stats report.
                Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
            }
        }
    }

    /// What was done so far.
    pub fn stats(&self) -> SyncStats {
        SyncStats {
            syncs: self.shared.syncs.load(Ordering::Relaxed),
            total_ns: self.shared.total_ns.load(Ordering::Relaxed),
            max_ns: self.shared.max_ns.load(Ordering::Relaxed),
            failure: self.shared.failed.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Lets the queued sync finish and stops the thread.
    pub fn stop(mut self) -> SyncStats {
        self.join();
        self.stats()
    }

    fn join(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn requests_coalesce_and_every_one_is_covered() {
        let dir = std::env::temp_dir().join(format!("lpmtrace-durable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let mut f = File::create(&path).unwrap();
        let sync = BackgroundSync::start(&f, &path).unwrap();
        for _ in 0..100 {
            f.write_all(&[0u8; 4096]).unwrap();
            sync.request();
        }
        let stats = sync.stop();
        // At least one sync ran after the last write; coalescing means
        // usually far fewer than 100.
        assert!((1..=100).contains(&stats.syncs), "{stats:?}");
        assert!(stats.max_ns <= stats.total_ns);
        assert!(stats.mean_ns() <= stats.max_ns);
        assert_eq!(stats.failure, None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_folder_is_synced_too() {
        assert_eq!(parent_dir(Path::new("rec.lpmt")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/var/tmp/rec.lpmt")), Path::new("/var/tmp"));
        sync_dir(Path::new(".")).unwrap();
        sync_dir(&std::env::temp_dir()).unwrap();
        // A folder that is gone is a real error, named by the caller.
        assert!(sync_dir(Path::new("/nonexistent/lpmtrace-durable")).is_err());
    }
}
