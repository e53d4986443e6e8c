//! Helpers shared by the integration tests.

pub mod block;
pub mod check;
pub mod reference;
