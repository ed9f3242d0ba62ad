//! gdb's threads are mini-kvm's vCPUs (gdb manual, "Remote Protocol": "General Query Packets"
//! `qfThreadInfo`, `qsThreadInfo`, `qThreadExtraInfo`; "Packets" `H` and `T`): gdb thread id N
//! is vCPU N-1, and ids 0 and -1 mean "any" and "all" to gdb. `info threads` lists the vCPUs
//! still running guest code, `thread N` picks the one whose registers and memory gdb reads.

use super::Server;
use crate::gdb::command::ThreadId;
use crate::gdb::packet::hex_encode;

impl Server {
    /// The vCPU a thread id names (gdb ids are vCPU index + 1; 0 and -1 mean "any"/"all").
    pub(super) fn vcpu_of(&self, tid: ThreadId) -> Option<usize> {
        match tid {
            ThreadId::Any | ThreadId::All => Some(self.general),
            ThreadId::Id(n) if n >= 1 && (n as usize) <= self.s.debugger.vcpus() => {
                Some(n as usize - 1)
            }
            ThreadId::Id(_) => None,
        }
    }

    /// `qfThreadInfo`: every live vCPU as a thread, all in one reply (`qsThreadInfo` ends it).
    pub(super) fn thread_list(&mut self) {
        let ids: Vec<String> =
            self.s.debugger.live_vcpus().iter().map(|i| format!("{:x}", i + 1)).collect();
        self.send(&format!("m{}", ids.join(",")));
    }

    /// `qThreadExtraInfo`: the text gdb shows next to a thread in `info threads`.
    pub(super) fn thread_extra_info(&mut self, tid: ThreadId) {
        match self.vcpu_of(tid) {
            Some(i) => self.send(&hex_encode(format!("vCPU {i}").as_bytes())),
            None => self.send("E01"),
        }
    }

    /// `Hc`/`Hg`: which vCPU later resumes (`Hc`; -1 all) or register and memory packets
    /// (`Hg`) apply to.
    pub(super) fn set_thread(&mut self, for_resume: bool, tid: ThreadId) {
        match (for_resume, self.vcpu_of(tid)) {
            (true, _) if tid == ThreadId::All => self.resume_thread = None,
            (true, Some(i)) => self.resume_thread = Some(i),
            (false, Some(i)) => self.general = i,
            _ => return self.send("E01"),
        }
        self.send("OK");
    }

    /// `T`: is this thread's vCPU still running guest code (not ended)?
    pub(super) fn thread_alive(&mut self, tid: ThreadId) {
        let alive = self.vcpu_of(tid).is_some_and(|i| self.s.debugger.live_vcpus().contains(&i));
        self.send(if alive { "OK" } else { "E01" });
    }
}
