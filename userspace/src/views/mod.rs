//! Views: everything that turns events, sessions and reports into output.
pub mod report;
