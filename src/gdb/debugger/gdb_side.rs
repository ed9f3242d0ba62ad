//! The gdb thread's side of the debugger: waiting for every vCPU to stop, passing a request
//! to a parked vCPU and taking its reply, resuming them (debugger.rs has the vCPUs' side).

use super::*;

impl Debugger {
    /// Waits until every vCPU still running is parked; returns why the VM stopped, or None if
    /// every vCPU has ended.
    pub fn wait_stopped(&self, give_up: &dyn Fn() -> bool) -> Option<StopReason> {
        let mut s = self.lock();
        loop {
            if s.ended.iter().all(|&e| e) {
                return None;
            }
            let all_parked = s.parked.iter().zip(&s.ended).all(|(&p, &e)| p || e);
            if all_parked && s.stop.is_some() {
                return s.stop;
            }
            if give_up() {
                return None;
            }
            s = self.wait(s, 20);
        }
    }

    /// Has the VM stopped (all parked) or ended? Non-blocking.
    pub fn is_stopped(&self) -> bool {
        let s = self.lock();
        s.ended.iter().all(|&e| e)
            || (s.stop.is_some() && s.parked.iter().zip(&s.ended).all(|(&p, &e)| p || e))
    }

    /// Sends a request to parked vCPU `index` and waits for the answer.
    pub fn request(&self, index: usize, request: Request) -> Reply {
        let mut s = self.lock();
        if index >= s.parked.len() {
            return Reply::Failed(format!("there is no vCPU {index}"));
        }
        // A vCPU on its way to the park (just started, or just kicked) gets a moment to arrive.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let waiting = |s: &State| !s.parked[index] && !s.ended[index] && self.wants_pause();
        while waiting(&s) && std::time::Instant::now() < deadline {
            s = self.wait(s, 10);
        }
        if s.ended[index] || !s.parked[index] {
            return Reply::Failed(format!("vCPU {index} is not stopped"));
        }
        s.replies[index] = None;
        s.requests[index] = Some(request);
        self.changed.notify_all();
        loop {
            if let Some(reply) = s.replies[index].take() {
                return reply;
            }
            if s.ended[index] {
                return Reply::Failed(format!("vCPU {index} ended"));
            }
            s = self.wait(s, 50);
        }
    }

    /// Resumes the VM: every vCPU continues, or only `step` steps one instruction while the
    /// others stay parked.
    pub fn resume(&self, step: Option<usize>) {
        let mut s = self.lock();
        s.stop = None;
        for (i, resume) in s.resume.iter_mut().enumerate() {
            *resume = match step {
                Some(j) if j == i => Resume::Step,
                Some(_) => Resume::Stay,
                None => Resume::Continue,
            };
        }
        s.generation += 1;
        // With a step the others stay parked, so the pause flag stays up for them.
        self.pause.store(step.is_some(), Ordering::SeqCst);
        drop(s);
        self.changed.notify_all();
    }

    pub fn vcpus(&self) -> usize {
        self.lock().parked.len()
    }

    /// The vCPUs whose threads still run.
    pub fn live_vcpus(&self) -> Vec<usize> {
        let s = self.lock();
        (0..s.ended.len()).filter(|&i| !s.ended[i]).collect()
    }
}
