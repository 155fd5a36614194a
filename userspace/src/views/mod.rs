//! Views: everything that turns events, sessions and reports into output.
pub mod escape;
pub mod event_line;
pub mod export;
pub mod html;
pub mod progress;
pub mod report;
pub mod time;
pub mod timeline;
