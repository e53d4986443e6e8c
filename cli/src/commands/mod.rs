//! One module per subcommand.

pub mod bench;
pub mod common;
pub mod compare;
pub mod demo;
pub mod eval;
pub mod plot;
pub mod run_config;
pub mod sequence;
pub mod sweep;
pub mod train;
