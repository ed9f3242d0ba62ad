//! Unit tests for stdin.rs: the queue, without the reader thread (a test instance is marked
//! started, so taking from it never reads the real stdin).
use super::*;

fn stdin(bytes: &[u8], ended: bool) -> Stdin {
    let s = Stdin::new();
    *s.lock() = Queue { bytes: bytes.iter().copied().collect(), ended, started: true };
    s
}

#[test]
fn bytes_come_out_in_order_then_the_end() {
    let s = stdin(b"ab", true);
    assert_eq!(s.pop(), Input::Byte(b'a'));
    let mut buf = [0u8; 4];
    assert_eq!(s.take(&mut buf), (1, true));
    assert_eq!(buf[0], b'b');
    assert_eq!(s.pop(), Input::Ended);
    assert_eq!(s.take(&mut buf), (0, true));
}

#[test]
fn nothing_yet_is_not_the_end() {
    let s = stdin(b"", false);
    assert_eq!(s.pop(), Input::NotYet);
    assert_eq!(s.take(&mut [0u8; 4]), (0, false));
    s.push(b"x");
    assert_eq!(s.pop(), Input::Byte(b'x'));
    s.end();
    assert_eq!(s.pop(), Input::Ended);
}

#[test]
fn arrivals_call_the_hook_and_a_full_queue_waits_for_the_guest() {
    let s: &'static Stdin = Box::leak(Box::new(stdin(b"", false)));
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = std::sync::Arc::clone(&calls);
    let _ = s.on_arrival.set(Box::new(move || {
        c.fetch_add(1, Ordering::SeqCst);
    }));
    let writer = std::thread::spawn(move || s.push(&vec![7u8; INPUT_CAPACITY + 10]));
    // The writer fills the queue, then waits for room: take until every byte has come.
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while got < INPUT_CAPACITY + 10 {
        let (n, _) = s.take(&mut buf);
        got += n;
        if n == 0 {
            std::thread::yield_now();
        }
    }
    writer.join().unwrap();
    assert!(calls.load(Ordering::SeqCst) >= 2, "one arrival per push of what fitted");
    assert_eq!(s.lock().bytes.len(), 0);
}
