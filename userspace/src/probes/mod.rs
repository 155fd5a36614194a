//! Probe catalogue (being written).
