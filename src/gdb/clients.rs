//! Who gets the gdb session: one client at a time, the next one once it has gone, and a
//! bounded refusal for every client that comes while another is connected.
//!
//! Reference: the gdb manual, appendix "Remote Protocol", "Standard Replies" (`E.text`, an
//! error with a text), and QEMU's gdbstub (gdbstub/system.c), whose behaviour this follows: a
//! client that connects stops the VM and gets control, as the first one did at start; after
//! `D` the VM runs on, and the next client to connect stops it again. A connection that just
//! closes is taken as a detach here too (every breakpoint removed, the guest runs on), where
//! QEMU would leave the VM as it was.
//!
//! The listening socket belongs to one thread, the accept loop. A client that finds the
//! session free gets it, on a thread of its own. Any other client is handled by a short-lived
//! thread of its own, so that a client which never sends a packet holds up no one. While the
//! session is ending (its client sent `D` or hung up, or the VM ended, and the session is being
//! wound down) that thread waits for the session, for at most [`REFUSAL_TIME`]: a gdb that
//! reconnects at once is not refused for being early. Otherwise it reads until the client's
//! first packet ends (`#`), at most [`REFUSAL_BYTES`] bytes into a fixed buffer and for at most
//! [`REFUSAL_TIME`], then sends the refusal and closes. At most [`MAX_REFUSING`] such threads
//! run at once; a client beyond that is refused at once, without waiting for its packet,
//! unless the session is ending (then it waits for the session as above).

use super::packet::encode_packet;
use super::server::{self, Session};
use crate::console::{message, note};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most a refused client may send before its refusal: more than any first packet gdb sends
/// (`qSupported` with its features is a few hundred bytes).
pub const REFUSAL_BYTES: usize = 4096;
/// The longest a refused client is waited for.
pub const REFUSAL_TIME: Duration = Duration::from_secs(2);
/// Refusals that wait for the client's packet at once; beyond that, refused without waiting.
pub const MAX_REFUSING: usize = 4;

/// What the accept loop shares with the session and refusal threads.
struct Clients {
    /// The session's state between clients; `None` while a client has it.
    idle: Mutex<Option<Session>>,
    /// The connected client, for the refusal's text, and its socket (shared with the server),
    /// to see whether it has hung up.
    current: Mutex<Option<(SocketAddr, Arc<TcpStream>)>>,
    /// The session is ending (its client sent `D` or `k`, or went away): set by the server.
    leaving: Arc<AtomicBool>,
    /// Whether a client is connected (the layer, mod.rs, waits for it to hear how the run ended).
    connected: Arc<AtomicBool>,
    /// Refusal threads running now.
    refusing: AtomicUsize,
}

/// The accept loop: runs until the listener fails (the process ends with its threads).
pub fn accept_loop(listener: TcpListener, session: Session, connected: Arc<AtomicBool>) {
    let clients = Arc::new(Clients {
        leaving: Arc::clone(&session.leaving),
        idle: Mutex::new(Some(session)),
        current: Mutex::new(None),
        connected,
        refusing: AtomicUsize::new(0),
    });
    let mut first = true;
    while let Ok((stream, peer)) = listener.accept() {
        match clients.take_session() {
            Some(session) => {
                start_session(&clients, stream, peer, session, first);
                first = false;
            }
            None => wait_or_refuse(&clients, stream, peer),
        }
    }
}

impl Clients {
    fn take_session(&self) -> Option<Session> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Is the session's client on its way out: it sent `D` or `k`, or hung up (POLLRDHUP on
    /// its socket: the server has not read the end yet)?
    fn current_is_leaving(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        if self.leaving.load(Ordering::SeqCst) {
            return true;
        }
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let Some((_, socket)) = current.as_ref() else { return false };
        // POLLRDHUP (poll(2)): the peer closed its end; nix names no constant for it. Asked
        // for alone, any event at all means the client is gone (POLLHUP and POLLERR come
        // unasked).
        let rdhup = PollFlags::from_bits_retain(libc::POLLRDHUP);
        let mut fds = [PollFd::new(socket.as_fd(), rdhup)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }
}

/// Gives the session to the client at `peer`, on a thread of its own. A client after the first
/// finds the VM running (or stopping): it is stopped for it, as QEMU does.
fn start_session(
    clients: &Arc<Clients>,
    stream: TcpStream,
    peer: SocketAddr,
    session: Session,
    first: bool,
) {
    let stream = Arc::new(stream);
    *clients.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((peer, Arc::clone(&stream)));
    clients.leaving.store(false, Ordering::SeqCst);
    clients.connected.store(true, Ordering::SeqCst);
    note(|| format!("gdb connected from {peer}"));
    let shared = Arc::clone(clients);
    // The session goes back to the idle slot whatever happens to the thread; if it cannot even
    // start, the slot stays empty and later clients are refused with a reason.
    let spawned = std::thread::Builder::new().name("gdb".into()).spawn(move || {
        let session = server::serve(stream, session, !first);
        *shared.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *shared.idle.lock().unwrap_or_else(|e| e.into_inner()) = Some(session);
        shared.connected.store(false, Ordering::SeqCst);
    });
    if let Err(e) = spawned {
        clients.connected.store(false, Ordering::SeqCst);
        message(&format!("mini-kvm: gdb: cannot start a thread for the client at {peer}: {e}"));
    }
}

/// A client that came while the session is taken: on a thread of its own, it gets the session
/// if its client is leaving and lets go in time, else an error packet naming the reason
/// (`E.text`), and a line on stderr says so.
fn wait_or_refuse(clients: &Arc<Clients>, stream: TcpStream, peer: SocketAddr) {
    // Past the cap a client is refused at once, unless the session is about to be free: the
    // next gdb must not be turned away because others are waiting to be refused (the leaving
    // lasts only while the session winds down, so this stays bounded too).
    let over = clients.refusing.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSING;
    if over && !clients.current_is_leaving() {
        clients.refusing.fetch_sub(1, Ordering::SeqCst);
        send_refusal(stream, &refusal(clients, peer));
        return;
    }
    let shared = Arc::clone(clients);
    let spawned = std::thread::Builder::new().name("gdb-refuse".into()).spawn(move || {
        let deadline = Instant::now() + REFUSAL_TIME;
        let mut stream = Some(stream);
        while let Some(waiting) = stream.take() {
            if let Some(session) = shared.take_session() {
                start_session(&shared, waiting, peer, session, false);
            } else if shared.current_is_leaving() && Instant::now() < deadline {
                stream = Some(waiting);
                std::thread::sleep(Duration::from_millis(5));
            } else {
                let reply = refusal(&shared, peer);
                let (waiting, _) = wait_for_first_packet(waiting, REFUSAL_BYTES, REFUSAL_TIME);
                send_refusal(waiting, &reply);
            }
        }
        shared.refusing.fetch_sub(1, Ordering::SeqCst);
    });
    if spawned.is_err() {
        clients.refusing.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The refusal for the client at `peer` (`+`, then the error packet), said on stderr too.
fn refusal(clients: &Clients, peer: SocketAddr) -> Vec<u8> {
    let first = clients
        .current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or_else(|| "another client".into(), |(a, _)| a.to_string());
    message(&format!(
        "mini-kvm: gdb: refused a second connection from {peer}: gdb at {first} is already \
         connected (one client at a time)"
    ));
    let text = format!("E.mini-kvm: another gdb ({first}) is already connected");
    let mut reply = b"+".to_vec();
    reply.extend(encode_packet(text.as_bytes()));
    reply
}

/// Reads what the client sends until its first packet ends (`#`), `limit` bytes have come or
/// `time` has passed, whichever is first; keeps none of it (returns how many bytes came). The
/// refusal then answers that packet rather than arriving before gdb asked anything.
pub fn wait_for_first_packet(
    mut stream: TcpStream,
    limit: usize,
    time: Duration,
) -> (TcpStream, usize) {
    let deadline = Instant::now() + time;
    let mut buf = [0u8; 512];
    let mut seen = 0usize;
    while seen < limit {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        let want = buf.len().min(limit - seen);
        match stream.read(&mut buf[..want]) {
            Ok(n) if n > 0 => {
                seen += n;
                if buf[..n].contains(&b'#') {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    (stream, seen)
}

/// Writes the refusal, waiting at most [`REFUSAL_TIME`] for a client that does not read, and
/// closes the connection.
fn send_refusal(mut stream: TcpStream, reply: &[u8]) {
    let _ = stream.set_write_timeout(Some(REFUSAL_TIME));
    let _ = stream.write_all(reply);
}

#[cfg(test)]
mod tests;
