//! Ring-buffer transport (being written).
