//! Tests of the objectives over ppl models.

mod common;
mod exact;
mod gradients;
mod map;
