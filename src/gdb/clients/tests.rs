//! Unit tests of clients.rs: what a refusal costs a client that misbehaves.

use super::*;
use std::sync::mpsc;

/// A connected pair: (the stub's end, the client's end).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stub, _) = listener.accept().unwrap();
    (stub, client)
}

/// Runs the wait on a thread; a wait that never ends fails the test after `HANG`, a bound that
/// only catches a hang (the waits here end within their own bound of 0.2 s).
fn wait_bounded(stub: TcpStream, limit: usize, time: Duration) -> usize {
    const HANG: Duration = Duration::from_secs(60);
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let (_, seen) = wait_for_first_packet(stub, limit, time);
        let _ = done.send(seen);
    });
    result.recv_timeout(HANG).expect("the wait ended")
}

#[test]
fn a_packet_ends_the_wait() {
    let (stub, mut client) = pair();
    client.write_all(b"+$qSupported:multiprocess+#c6").unwrap();
    // The client stays connected and silent after its packet: the `#` ended the wait.
    let seen = wait_bounded(stub, REFUSAL_BYTES, Duration::from_secs(3600));
    assert_eq!(seen, 29);
}

#[test]
fn a_client_that_streams_without_a_packet_is_cut_off_at_the_byte_cap() {
    let (stub, mut client) = pair();
    std::thread::spawn(move || {
        let junk = [b'x'; 4096];
        while client.write_all(&junk).is_ok() {}
    });
    let seen = wait_bounded(stub, 1000, Duration::from_secs(3600));
    assert_eq!(seen, 1000, "no more than the cap is read");
}

#[test]
fn a_silent_client_is_given_up_on_at_the_deadline() {
    let (stub, client) = pair();
    let seen = wait_bounded(stub, REFUSAL_BYTES, Duration::from_millis(200));
    assert_eq!(seen, 0);
    drop(client);
}
