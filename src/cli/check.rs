//! The checks of the command line that only options need: where each applies, and the values
//! of the core's own (`--timeout`, `--color`). Layers check their options' values themselves.

use super::{usage, Config, Scope::*, OPTIONS};
use crate::error::Ending;
use std::time::Duration;

/// Refuses the options that do not apply to this run.
pub const LINUX_TAKES_NO: &str = "--linux boots one kernel and takes no";

pub fn scopes(config: &Config) -> Result<(), Ending> {
    let (linux, paging) = (config.flag("--linux"), config.flag("--paging"));
    if paging && config.flag("--long-mode") {
        return Err(usage("--long-mode and --paging are different CPU modes: choose one".into()));
    }
    for (name, _) in &config.given {
        match OPTIONS.iter().find(|o| o.0 == *name).map(|o| o.3) {
            Some(Linux(note)) if !linux => {
                return Err(usage(format!("{name} is for --linux kernels{note}")))
            }
            Some(NotLinux(what)) if linux => return Err(usage(format!("{LINUX_TAKES_NO} {what}"))),
            Some(Paging) if !paging => {
                return Err(usage(format!(
                    "{name} is for --paging guests (their entry point and load offset)"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `--timeout SECS`: 1 ms to 1e9 s, decimals allowed.
pub fn timeout(text: &str) -> Result<Duration, Ending> {
    let secs: f64 = text
        .parse()
        .map_err(|_| usage(format!("--timeout needs a number of seconds, not '{text}'")))?;
    if !(secs > 0.0 && secs <= 1e9) {
        return Err(usage(format!(
            "--timeout must be more than 0 seconds (and at most 1000000000), not '{text}'"
        )));
    }
    if secs < 0.001 {
        return Err(usage(format!("--timeout must be at least 0.001 s (1 ms), not '{text}'")));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `--color WHEN`: always, never, or auto (`None`).
pub fn color(text: &str) -> Result<Option<bool>, Ending> {
    match text {
        "auto" => Ok(None),
        "always" => Ok(Some(true)),
        "never" => Ok(Some(false)),
        other => Err(usage(format!("--color takes auto, always or never, not '{other}'"))),
    }
}
