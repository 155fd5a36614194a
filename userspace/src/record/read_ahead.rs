//! Decodes the next blocks of a recording on a second thread while the
//! caller works through the current one.
//!
//! Reading a recording is decompress + decode, then whatever the caller
//! does with the events (analysis for `report`, formatting for `dump`).
//! Blocks are independent (each starts with empty decoder state), so a
//! worker can decode block i+1 while the caller consumes block i: on a
//! multi-core machine the two halves overlap. The channel holds one
//! finished block, so memory stays at about three blocks' events.
//! Results come back in block order, errors included, so the caller's
//! handling (fail, or skip with `--salvage`) is the same as reading inline.
//!
//! The caller hands each block's event buffer back when it is done with it
//! ([`ReadAhead::recycle`]) and the worker decodes into it again: a block's
//! events take about a megabyte, which the allocator would otherwise map
//! and unmap for every block (page faults and `madvise` were 8% of a
//! `report` profile).

use std::fs::File;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::thread::JoinHandle;

use super::format::BlockHeader;
use super::reader::{read_block, BlockFail};
use crate::events::Event;

/// One block's outcome.
pub(super) type BlockResult = Result<(BlockHeader, Vec<Event>), BlockFail>;

/// A worker decoding blocks `next..` in order.
pub(super) struct ReadAhead {
    /// `None` only while dropping.
    rx: Option<Receiver<(usize, BlockResult)>>,
    /// Buffers going back to the worker.
    recycle: Sender<Vec<Event>>,
    next: usize,
    worker: Option<JoinHandle<()>>,
}

/// The worker never outlives its reader: dropping the receiver makes its
/// next `send` fail, and the join waits for that (at most the block it is
/// decoding). A detached worker could still hold the file and its memory
/// after the reader is gone (found by fuzzing: LeakSanitizer saw the
/// worker's allocations at exit).
impl Drop for ReadAhead {
    fn drop(&mut self) {
        drop(self.rx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl ReadAhead {
    /// Starts decoding `blocks` (index, byte offset) in order. `None` when
    /// the file cannot be shared with a thread (the caller reads inline).
    pub fn start(file: &File, file_len: u64, blocks: Vec<(usize, u64)>) -> Option<ReadAhead> {
        let first = blocks.first()?.0;
        let file = file.try_clone().ok()?;
        let (tx, rx) = sync_channel(1);
        let (recycle, recycled) = channel::<Vec<Event>>();
        let worker = std::thread::Builder::new()
            .name("lpmtrace-read-ahead".into())
            .spawn(move || {
                for (i, offset) in blocks {
                    let mut events = recycled.try_recv().unwrap_or_default();
                    events.clear();
                    let result = read_block(&file, file_len, offset, &mut events).map(|h| (h, events));
                    // The reader went away (seek, end, drop): stop.
                    if tx.send((i, result)).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(ReadAhead {
            rx: Some(rx),
            recycle,
            next: first,
            worker: Some(worker),
        })
    }

    /// Gives a consumed block's buffer back for a later block (dropped if
    /// the worker has finished).
    pub fn recycle(&self, events: Vec<Event>) {
        let _ = self.recycle.send(events);
    }

    /// Block `i` when it is the one this worker produces next; `None`
    /// otherwise (the caller seeked) or if the worker is gone.
    pub fn take(&mut self, i: usize) -> Option<BlockResult> {
        if i != self.next {
            return None;
        }
        let (got, result) = self.rx.as_ref()?.recv().ok()?;
        debug_assert_eq!(got, i, "the worker sends blocks in order");
        self.next += 1;
        Some(result)
    }
}
