//! The analysis engine (being written).
