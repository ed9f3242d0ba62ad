//! The `[N] ` that starts each line of vCPU N's output when several guests share stdout, in a
//! colour of its own on a terminal (`--color`; the NO_COLOR convention, no-color.org).

/// 256-colour ANSI codes for the prefixes of vCPUs 0-3: green, cyan, purple, pink.
const PREFIX_COLORS: [u8; 4] = [46, 45, 93, 198];

/// vCPU `index`'s prefix. `color`: `--color always` (`Some(true)`), `never` (`Some(false)`)
/// or `auto` (`None`: on a terminal, `tty`, unless NO_COLOR is set).
pub fn prefix(index: usize, color: Option<bool>, tty: bool) -> Vec<u8> {
    let code = PREFIX_COLORS[index % PREFIX_COLORS.len()];
    match color.unwrap_or_else(|| tty && std::env::var_os("NO_COLOR").is_none()) {
        true => format!("\x1b[38;5;{code}m[{index}]\x1b[0m ").into_bytes(),
        false => format!("[{index}] ").into_bytes(),
    }
}
