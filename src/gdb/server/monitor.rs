//! gdb's `monitor` command on the stub's side (gdb manual, E.4 "General Query Packets",
//! qRcmd): the text is parsed and run (gdb/monitor.rs), its output sent as console output
//! (`O` packets, each small enough for any packet size gdb accepts), and then `OK`.

use super::Server;
use crate::gdb::debugger::{Reply, Request};
use crate::gdb::monitor::{self, BreakpointLine, Monitor};

/// Bytes of console text per `O` packet (twice that in hex).
const CHUNK: usize = 400;

impl Server {
    /// `qRcmd`: one monitor command, run on the current vCPU.
    pub(super) fn monitor(&mut self, text: &str) {
        let output = match monitor::parse(text) {
            Monitor::Help => monitor::HELP.to_string(),
            Monitor::PageWalk(addr) => {
                match self.s.debugger.request(self.general, Request::PageWalk { addr }) {
                    Reply::Text(text) => text,
                    Reply::Failed(why) => format!("pagewalk {addr:#x}: {why}\n"),
                    other => format!("pagewalk {addr:#x}: unexpected reply {other:?}\n"),
                }
            }
            Monitor::Breakpoints => self.breakpoint_list(),
            Monitor::Bad(text, why) => format!("monitor {text}: {why}\n"),
        };
        for chunk in output.as_bytes().chunks(CHUNK) {
            self.console(chunk);
        }
        self.send("OK");
    }
}

impl Server {
    /// `monitor breakpoints`: each breakpoint, how it is watched, and whether it can be hit
    /// (from the current vCPU's page tables).
    fn breakpoint_list(&self) -> String {
        let dbg = &self.s.debugger;
        let mut addrs = dbg.breakpoint_addresses();
        let inserted_now = !addrs.is_empty();
        if !inserted_now {
            addrs.clone_from(&self.inserted_at_resume);
        }
        let how = dbg.how_watched(addrs.len());
        let lines: Vec<BreakpointLine> = addrs
            .into_iter()
            .map(|addr| BreakpointLine { addr, how, reach: self.reach(addr) })
            .collect();
        monitor::breakpoints_text(&lines, inserted_now)
    }
}
