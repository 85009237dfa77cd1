//! `corscope probe`: placeholder.

use crate::cli::{ProbeArgs, ProxyArgs};

/// Run the probe; returns the exit code.
pub fn run(_proxy: &ProxyArgs, _args: &ProbeArgs) -> anyhow::Result<i32> {
    anyhow::bail!("probe is not implemented yet")
}
