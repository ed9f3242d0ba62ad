//! Who gets the gdb session: the first client, and a bounded refusal for every client that
//! comes while it is connected.
//!
//! Reference: the gdb manual, appendix "Remote Protocol", "Standard Replies" (`E.text`, an
//! error with a text).
//!
//! The listening socket belongs to one thread, the accept loop. The first client gets the
//! session, on a thread of its own. Any other client is refused by a short-lived thread of its
//! own, so that a client which never sends a packet holds up no one: it reads until the
//! client's first packet ends (`#`), at most [`REFUSAL_BYTES`] bytes into a fixed buffer and for
//! at most [`REFUSAL_TIME`], then sends the refusal and closes. At most [`MAX_REFUSING`] such
//! threads run at once; a client beyond that is refused at once, without waiting for its
//! packet.

use super::packet::encode_packet;
use super::server::{self, Session};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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
    /// The connected client, for the refusal's text.
    current: Mutex<Option<SocketAddr>>,
    /// Whether a client is connected (machine/wait.rs waits for it to hear how the run ended).
    connected: Arc<AtomicBool>,
    /// Refusal threads running now.
    refusing: AtomicUsize,
}

/// The accept loop: runs until the listener fails (the process ends with its threads).
pub fn accept_loop(listener: TcpListener, session: Session, connected: Arc<AtomicBool>) {
    let clients = Arc::new(Clients {
        current: Mutex::new(None),
        connected,
        refusing: AtomicUsize::new(0),
    });
    let mut session = Some(session);
    while let Ok((stream, peer)) = listener.accept() {
        match session.take() {
            Some(session) => start_session(&clients, stream, peer, session),
            None => refuse(&clients, stream, peer),
        }
    }
}

/// Gives the session to the client at `peer`, on a thread of its own.
fn start_session(clients: &Arc<Clients>, stream: TcpStream, peer: SocketAddr, session: Session) {
    *clients.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(peer);
    clients.connected.store(true, Ordering::SeqCst);
    crate::log::note(|| format!("gdb connected from {peer}"));
    let shared = Arc::clone(clients);
    let spawned = std::thread::Builder::new()
        .name("gdb".into())
        .spawn(move || {
            server::serve(stream, session);
            shared.connected.store(false, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        clients.connected.store(false, Ordering::SeqCst);
        diag!("mini-kvm: gdb: cannot start a thread for the client at {peer}: {e}");
    }
}

/// A client that came while the session is taken: on a thread of its own, an error packet
/// naming the reason (`E.text`), and a line on stderr says so.
fn refuse(clients: &Arc<Clients>, stream: TcpStream, peer: SocketAddr) {
    let reply = refusal(clients, peer);
    if clients.refusing.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSING {
        clients.refusing.fetch_sub(1, Ordering::SeqCst);
        send_refusal(stream, &reply);
        return;
    }
    let shared = Arc::clone(clients);
    let spawned = std::thread::Builder::new()
        .name("gdb-refuse".into())
        .spawn(move || {
            let (stream, _) = wait_for_first_packet(stream, REFUSAL_BYTES, REFUSAL_TIME);
            send_refusal(stream, &reply);
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
        .map_or_else(|| "another client".into(), |a| a.to_string());
    diag!(
        "mini-kvm: gdb: refused a second connection from {peer}: gdb at {first} is already \
         connected (one client at a time)"
    );
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
