//! One ordered event stream from live capture or a file (being written).
