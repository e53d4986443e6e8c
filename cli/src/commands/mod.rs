//! One module per subcommand.

pub mod bench;
pub mod compare;
pub mod demo;
