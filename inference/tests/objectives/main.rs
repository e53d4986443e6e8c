//! Tests of the objectives over ppl models.

mod common;
mod map;
