//! One module per subcommand: argument struct (clap) and `run`. They wire
//! sources to views; the logic lives in the layers below.
pub mod common;
pub mod doctor;
pub mod dump;
pub mod export;
pub mod flight;
pub mod generate;
pub mod info;
pub mod live;
pub mod record;
pub mod replay;
pub mod report;
pub mod tui_live;
