//! A real terminal for the tests that need one: a program run in a detached tmux session on a
//! server of its own (`tmux -L`), keys sent with send-keys, the screen read with capture-pane.
//! Scripts name their scratch directory DIR and the binary MINI_KVM.

use super::{require, HANG_GUARD, MINI_KVM};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
    pub dir: PathBuf,
}

impl Tmux {
    /// Starts `script` (sh) in a detached tmux session on its own server.
    pub fn start(name: &str, script: &str) -> Tmux {
        require("tmux");
        let socket = format!("mini-kvm-tty-{}-{name}", std::process::id());
        let dir = std::env::temp_dir().join(&socket);
        std::fs::create_dir_all(&dir).unwrap();
        let script = script.replace("DIR", dir.to_str().unwrap()).replace("MINI_KVM", MINI_KVM);
        let size = ["-x", "120", "-y", "30"];
        let ok = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d"])
            .args(size)
            .args(["sh", "-c", &script])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        Tmux { socket, dir }
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", &self.socket, "send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls for a condition (a file appearing, text on the screen), failing after HANG_GUARD.
    pub fn wait_for(&self, what: &str, cond: impl Fn(&Tmux) -> bool) {
        let started = Instant::now();
        while !cond(self) {
            assert!(
                started.elapsed() < HANG_GUARD,
                "timed out waiting for {what}; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A file the script wrote into DIR. Scripts write to a temporary name and `mv` it into
    /// place, so a file that exists is complete (a shell's `> DIR/status` creates it empty first,
    /// and a test polling for it may read it before `echo` has written).
    pub fn file(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(name)).ok()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
