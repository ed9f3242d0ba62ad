//! The values options take: numbers as C writes them, sizes, seconds, and their limits.

use super::UsageError;
use std::time::Duration;

/// Parses an unsigned number the way C's strtoul(…, 0) does: `0x` hex, `0` octal, else decimal.
pub fn parse_number(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// The most RAM a guest may have. Above 3 GiB it continues at 4 GiB, past the hole where the
/// LAPIC, IOAPIC and KVM's TSS pages live (boot/mod.rs); untouched RAM costs the host nothing.
pub const MAX_MEM: u64 = 16 << 30;
/// The least: the 1 MiB below a kernel plus room for one.
pub const MIN_MEM: u64 = 2 << 20;

/// The longest `--cmdline` (Linux's own limit on x86, COMMAND_LINE_SIZE).
pub const MAX_CMDLINE: usize = 4096;
/// The most `--module` files: the slots of the module list in the Multiboot boot area.
pub const MAX_MODULES: usize = crate::boot::multiboot::MAX_MODULES;
/// The module file names (each with its NUL) must fit, with the command line, in the strings
/// part of the boot area.
pub const MAX_MODULE_NAMES: usize = 16 * 1024;
/// `--timeout` bounds: a timer finer than 1 ms means nothing here; 1e9 s is "no limit" enough.
pub const MIN_TIMEOUT_SECS: f64 = 0.001;
pub const MAX_TIMEOUT_SECS: f64 = 1e9;

/// Parses a size like `32M`, `64MiB`, `1G`, `524288K` or a plain (or 0x hex) byte count.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.starts_with("0x") || t.starts_with("0X") {
        return parse_number(t);
    }
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return None,
    };
    let n = parse_number(number)?;
    n.checked_mul(1u64 << shift)
}

/// `--mem`: a size within [`MIN_MEM`]..=[`MAX_MEM`], in whole pages.
pub fn parse_mem(text: &str) -> Result<u64, UsageError> {
    let size = parse_size(text)
        .ok_or_else(|| UsageError(format!("--mem needs a size such as 64M, not '{text}'")))?;
    if !(MIN_MEM..=MAX_MEM).contains(&size) || size % 4096 != 0 {
        return Err(UsageError(format!(
            "--mem must be a multiple of 4 KiB from 2M to 16G, not '{text}'"
        )));
    }
    Ok(size)
}

/// `--entry` and `--load`: a number as C writes it.
pub fn parse_address(option: &str, text: &str) -> Result<u64, UsageError> {
    parse_number(text).ok_or_else(|| UsageError(format!("{option} needs a number, not '{text}'")))
}

/// `--timeout`: seconds, decimals allowed, from [`MIN_TIMEOUT_SECS`] to [`MAX_TIMEOUT_SECS`].
pub fn parse_timeout(text: &str) -> Result<Duration, UsageError> {
    let secs: f64 = text
        .parse()
        .map_err(|_| UsageError(format!("--timeout needs a number of seconds, not '{text}'")))?;
    if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
        return Err(UsageError(format!(
            "--timeout must be more than 0 seconds (and at most {MAX_TIMEOUT_SECS}), not '{text}'"
        )));
    }
    if secs < MIN_TIMEOUT_SECS {
        return Err(UsageError(format!(
            "--timeout must be at least {MIN_TIMEOUT_SECS} s (1 ms), not '{text}'"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}
