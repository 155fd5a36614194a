//! Scenario text → scenario (and, for small ones, the analysis and the
//! expectation check that `lpmtrace scenario` runs on it).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Above this many events the analysis is skipped: it is linear and only
/// slows the fuzzer down (the parser itself caps events at MAX_EVENTS).
const ANALYSE_MAX_EVENTS: usize = 20_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match lpmtrace::scenario::parse(text) {
        Ok(scenario) => {
            assert!(scenario.events.len() <= lpmtrace::scenario::MAX_EVENTS);
            if scenario.events.len() <= ANALYSE_MAX_EVENTS {
                let report = scenario.analyse();
                let _ = scenario.check(&report);
            }
        }
        Err(e) => {
            // Every error names a line (or the file) and is printable.
            let _ = e.to_string();
        }
    }
});
