//! Objectives over `pact` models and the training loop.
