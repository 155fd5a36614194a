//! The trace file format (being written).
