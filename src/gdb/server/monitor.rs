//! gdb's `monitor` command on the stub's side (gdb manual, E.4 "General Query Packets",
//! qRcmd): the text is parsed and run (gdb/monitor.rs), its output sent as console output
//! (`O` packets, each small enough for any packet size gdb accepts), and then `OK`.

use super::Server;
use crate::gdb::debugger::{Reply, Request};
use crate::gdb::monitor::{self, Monitor};
use crate::gdb::packet::hex_encode;

/// Bytes of console text per `O` packet (twice that in hex).
const CHUNK: usize = 400;

impl Server {
    /// `qRcmd`: one monitor command, run on the current vCPU.
    pub(super) fn monitor(&mut self, text: &str) {
        let output = match monitor::parse(text) {
            Monitor::Help => monitor::HELP.to_string(),
            Monitor::PageWalk(addr) => {
                match self
                    .s
                    .debugger
                    .request(self.general, Request::PageWalk { addr })
                {
                    Reply::Text(text) => text,
                    Reply::Failed(why) => format!("pagewalk {addr:#x}: {why}\n"),
                    other => format!("pagewalk {addr:#x}: unexpected reply {other:?}\n"),
                }
            }
            Monitor::Bad(text, why) => format!("monitor {text}: {why}\n"),
        };
        for chunk in output.as_bytes().chunks(CHUNK) {
            self.send(&format!("O{}", hex_encode(chunk)));
        }
        self.send("OK");
    }
}
