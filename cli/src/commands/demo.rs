//! `pact demo`: the README's main job.

use crate::Result;

/// Arguments of `pact demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Finish in well under a minute (for CI).
    #[arg(long)]
    pub quick: bool,
}

/// Runs `pact demo`.
pub fn run(_args: DemoArgs) -> Result<()> {
    Ok(())
}
