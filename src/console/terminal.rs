//! Raw terminal mode while a guest runs, and its restoration on every way out.
//!
//! A terminal normally works in "cooked" mode: the kernel's line discipline (termios(3)) echoes
//! keys, holds them until Enter (ICANON), turns Ctrl-C into SIGINT (ISIG), handles Ctrl-S/Ctrl-Q
//! (IXON) and maps CR to NL (ICRNL). A guest OS wants the raw keys instead: it echoes and edits
//! lines itself. So, only when stdin is a terminal, mini-kvm clears those flags for the run; it
//! keeps output processing (OPOST), so a guest's "\n" still returns the cursor.
//!
//! The saved settings are restored when the guard drops (normal end, error, timeout, signals all
//! return through main) and from a panic hook, so a crash never leaves a dead terminal behind.

use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use std::io::IsTerminal;
use std::sync::Mutex;

/// The settings to restore, reachable from the panic hook.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Raw mode for as long as this lives.
pub struct RawModeGuard {
    _private: (),
}

impl RawModeGuard {
    /// Switches stdin to raw mode if it is a terminal; `None` if it is not (a pipe, a file,
    /// /dev/null), in which case nothing changes.
    pub fn enter() -> Option<RawModeGuard> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.local_flags &= !(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG);
        raw.input_flags &= !(InputFlags::IXON | InputFlags::ICRNL);
        raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        // The seccomp SIGSYS handler cannot take this lock: it gets its own copy.
        crate::kvm::seccomp::restore_terminal_on_trap(saved.clone().into());
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        install_panic_hook();
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawModeGuard { _private: () })
    }
}

/// Puts the saved settings back (idempotent).
pub fn restore() {
    let saved = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(saved) = saved {
        // Nothing useful can be done if this fails: the terminal is gone.
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &saved);
    }
}

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}
