//! The trace file format (being written).

/// Errors of the trace file reader and writer (being written).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);
