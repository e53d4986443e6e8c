//! Data sets and tasks.
