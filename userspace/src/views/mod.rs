//! Views: everything that turns events, sessions and reports into output.
pub mod event_line;
pub mod progress;
pub mod report;
