//! `pact compare`: ACT against PACT for given halting probabilities.

use crate::Result;

/// Arguments of `pact compare`.
#[derive(clap::Args)]
pub struct CompareArgs {}

/// Runs `pact compare`.
pub fn run(_args: CompareArgs) -> Result<()> {
    Err(crate::CliError::Usage(
        "pact compare is not available yet".into(),
    ))
}
