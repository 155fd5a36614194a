//! `lpmtrace report` output (being written).
