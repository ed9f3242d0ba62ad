//! `--host-check` is not written yet: it says so instead of pretending.

/// Runs the host checks and returns the exit status.
pub fn run(_verbose: bool) -> i32 {
    diag!("mini-kvm: --host-check is not implemented yet");
    2
}
