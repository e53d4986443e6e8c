//! Tests of the objectives over ppl models.

mod baseline;
mod closed_form;
mod common;
mod exact;
mod gradients;
mod guided;
mod leave_one_out;
mod map;
mod masked;
mod reparameterised;
