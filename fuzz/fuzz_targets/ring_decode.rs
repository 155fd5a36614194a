//! Ring-buffer record bytes → event: the bytes come from the kernel (or a
//! newer eBPF object), so any byte string must decode or fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpmtrace::events::decode::{decode, parse_stream_id};

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = decode(data) {
        // Formatting walks every field (names, masks, comms).
        let _ = format!("{event:?}");
    }
    let _ = parse_stream_id(data);
});
