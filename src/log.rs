//! mini-kvm's own words on stderr: `-v` notes, set once, used from any layer.
//!
//! A VMM has things to say that are neither guest output nor errors: which capabilities it
//! found, how it laid out memory, why a vCPU stopped. They are shown with `-v`/`--verbose`.
//! Rather than thread a `verbose: bool` through every function that might have something to
//! say, the choice is made once at start-up ([`set_verbose`]) and each note is written where it
//! arises ([`note`]). The message is built only when it will be shown.
//!
//! Every line goes through `console::errout`, which never blocks on a stderr nobody reads and
//! never panics on a closed one.

use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// `-v`: show notes from now on.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Are notes shown?
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// A `-v` note: "mini-kvm: <message>" on stderr; `message` runs only when notes are shown.
pub fn note(message: impl FnOnce() -> String) {
    if verbose() {
        crate::console::errout::message(&format!("mini-kvm: {}", message()));
    }
}
