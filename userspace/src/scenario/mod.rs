//! The scenario text format (being written).
