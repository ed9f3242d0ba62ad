//! `--gdb` at the protocol level, with a raw client: one client at a time, how the guest's end
//! reaches gdb, requests that make no sense in the state the VM is in, the breakpoint limit.
//! These hold on every kind of KVM (nothing here depends on stepping or int3).

mod common;
mod gdb_common;
use common::*;
use gdb_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// A raw gdb client: sends packets, reads until a reply shows up.
struct Client {
    s: TcpStream,
    seen: String,
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Client { s, seen: String::new() }
    }

    /// Sends `payload` and returns everything up to and including the reply `$...#cc` that
    /// starts with `expect` (earlier packets, such as 'O' console output, included).
    fn ask(&mut self, payload: &str, expect: &str) -> String {
        self.s.write_all(&packet(payload)).unwrap();
        self.wait(expect)
    }

    fn wait(&mut self, expect: &str) -> String {
        let needle = format!("${expect}");
        let mut buf = [0u8; 4096];
        loop {
            if let Some(at) = self.seen.find(&needle) {
                if let Some(end) = self.seen[at..].find('#') {
                    let end = (at + end + 3).min(self.seen.len());
                    let got: String = self.seen.drain(..end).collect();
                    return got;
                }
            }
            let n = self.s.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "connection ended before ${expect}: {}", self.seen);
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

/// The hex of an 'O' console-output packet, decoded.
fn console_text(reply: &str) -> String {
    let Some(at) = reply.find("$O") else {
        return String::new();
    };
    let hex = &reply[at + 2..reply[at..].find('#').map_or(reply.len(), |e| at + e)];
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn a_second_client_is_refused_with_a_reason() {
    let child = start(&["hello"], b"");
    let mut first = Client::connect(child.port);
    first.ask("?", "T05");
    let mut second = Client::connect(child.port);
    let refusal = second.ask("qSupported", "E.");
    assert!(refusal.contains("E.mini-kvm: another gdb (127.0.0.1:"), "{refusal}");
    // The first session is untouched: it runs the guest to its end.
    let end = first.ask("c", "W");
    assert!(end.contains("$W00#"), "{end}");
    let (status, stdout, stderr) = finish(child);
    assert_eq!((status, stdout.as_str()), (0, "Hello, KVM!\n"), "{stderr}");
    assert!(
        stderr.contains("mini-kvm: gdb: refused a second connection from 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("is already connected"), "{stderr}");
}

#[test]
fn after_a_detach_or_a_dropped_connection_the_next_client_gets_the_session() {
    let child = start(&[&test_guest("spin")], b"");
    let mut first = Client::connect(child.port);
    first.ask("?", "T05");
    first.s.write_all(&packet("c")).unwrap();
    // Detached while the guest runs: it runs on, as under QEMU.
    first.ask("D", "OK");
    drop(first);
    // The next client gets the session, with the VM stopped for it (QEMU stops it at a
    // connection too): its registers can be read.
    let mut second = Client::connect(child.port);
    assert!(second.ask("?", "T05").contains("$T05"));
    let regs = second.ask("g", "");
    assert!(!regs.contains("$E"), "{regs}");
    second.s.write_all(&packet("c")).unwrap();
    // This one just goes away: taken as a detach, and the next client is accepted again.
    drop(second);
    let mut third = Client::connect(child.port);
    assert!(third.ask("?", "T05").contains("$T05"));
    assert!(!third.ask("g", "").contains("$E"));
    third.s.write_all(&packet("k")).unwrap();
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 130, "{stderr}");
    assert!(!stderr.contains("refused"), "{stderr}");
}

/// The most a mini-kvm under gdb may hold resident in these tests (a debug build runs the
/// `spin` guest in about 3 MiB): a refused client's bytes must not add to it.
const GDB_RSS_BOUND_KIB: i64 = 24 * 1024;

#[test]
fn a_client_that_streams_without_a_packet_costs_bounded_memory_and_holds_up_no_one() {
    let child = start(&[&test_guest("spin")], b"");
    let port = child.port;
    let mut first = Client::connect(port);
    first.ask("?", "T05");
    // A second client sends 64 MiB with no `#`, as fast as mini-kvm takes them; it is cut off
    // long before (the refusal reads at most 4 KiB, for at most 2 s).
    let mut flood = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let streamer = std::thread::spawn(move || {
        let junk = [b'x'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 64 << 20 {
            match flood.write(&junk) {
                Ok(n) if n > 0 => sent += n,
                _ => break,
            }
        }
        sent
    });
    // Meanwhile a third client gets its refusal.
    let mut third = Client::connect(port);
    let refusal = third.ask("qSupported", "E.");
    assert!(refusal.contains("is already connected"), "{refusal}");
    let sent = streamer.join().unwrap();
    eprintln!("the flooding client got {sent} bytes in before it was cut off");
    assert!(sent < 64 << 20, "the flood was read to its end");
    // The first session is untouched.
    assert!(!first.ask("g", "").contains("$E"));
    first.s.write_all(&packet("k")).unwrap();
    let (status, _, stderr, rss) = finish_rss(child);
    assert_eq!(status, 130, "{stderr}");
    eprintln!("peak RSS {rss} KiB");
    assert!(rss < GDB_RSS_BOUND_KIB, "peak RSS {rss} KiB");
}

#[test]
fn the_guests_exit_status_reaches_gdb() {
    let child = start(&[&test_guest("exit7")], b"");
    let mut c = Client::connect(child.port);
    let end = c.ask("c", "W");
    assert!(end.contains("$W07#"), "{end}");
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 7, "{stderr}");
}

#[test]
fn a_guest_fault_reaches_gdb_as_a_signal_with_the_reason() {
    let child = start(&[&test_guest("triple_fault")], b"");
    let mut c = Client::connect(child.port);
    let end = c.ask("c", "X0b");
    let why = console_text(&end);
    assert!(why.starts_with("mini-kvm: the guest faulted: "), "{end}");
    assert!(why.contains("triple"), "{why}");
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 5, "{stderr}");
}

#[test]
fn monitor_commands_answer_with_console_output_then_ok() {
    let child = start(&["hello"], b"");
    let mut c = Client::connect(child.port);
    let hex = |text: &str| text.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let help = c.ask(&format!("qRcmd,{}", hex("help")), "OK");
    assert!(console_text(&help).contains("monitor pagewalk ADDR"), "{help}");
    // A real-mode guest: no paging, so the walk is the identity.
    let walk = c.ask(&format!("qRcmd,{}", hex("pagewalk 0x7c00")), "OK");
    assert_eq!(
        console_text(&walk),
        "pagewalk 0x7c00: paging is off (CR0.PG = 0): the linear address is the physical \
         address 0x7c00\n"
    );
    let bad = c.ask(&format!("qRcmd,{}", hex("frobnicate")), "OK");
    assert_eq!(
        console_text(&bad),
        "monitor frobnicate: unknown monitor command (try monitor help)\n"
    );
    assert!(c.ask("qRcmd,zz", "E").contains("$E01#"));
    c.s.write_all(&packet("D")).unwrap();
    c.wait("OK");
    let (status, stdout, stderr) = finish(child);
    assert_eq!((status, stdout.as_str()), (0, "Hello, KVM!\n"), "{stderr}");
}

#[test]
fn step_or_continue_while_running_is_an_error_and_vcont_checks_threads() {
    let child = start(&[&test_guest("spin")], b"");
    let mut c = Client::connect(child.port);
    // Stopped: a vCont naming a thread that does not exist is refused, the VM stays put.
    assert!(c.ask("vCont;s:ffff", "E").contains("$E01#"));
    assert!(c.ask("vCont;c:2", "E").contains("$E01#"));
    assert!(c.ask("?", "T05").contains("T05"));
    c.s.write_all(&packet("c")).unwrap();
    // Running: `s`, `c` and `vCont` get an error at once.
    assert!(c.ask("s", "E").contains("$E01#"));
    assert!(c.ask("c", "E").contains("$E01#"));
    assert!(c.ask("vCont;c", "E").contains("$E01#"));
    c.s.write_all(b"\x03").unwrap();
    c.wait("T02");
    c.s.write_all(&packet("k")).unwrap();
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 130, "{stderr}");
}

#[test]
fn breakpoints_are_limited_to_a_documented_number() {
    let child = start(&["hello"], b"");
    let mut c = Client::connect(child.port);
    // The limit the README documents.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let limit = 64;
    assert!(
        readme.unwrap().contains("At most 64 breakpoints at once"),
        "README documents the limit"
    );
    for i in 0..limit {
        let reply = c.ask(&format!("Z0,{:x},1", 0x100 + i), "");
        assert!(reply.contains("$OK#"), "breakpoint {i}: {reply}");
    }
    let reply = c.ask("Z0,200,1", "E");
    assert!(reply.contains("$E22#"), "{reply}");
    // Setting one that exists again is no new breakpoint; removing frees a place.
    assert!(c.ask("Z0,100,1", "").contains("$OK#"));
    assert!(c.ask("z0,100,1", "").contains("$OK#"));
    assert!(c.ask("z0,100,1", "E").contains("$E01#"), "removed already");
    assert!(c.ask("Z0,200,1", "").contains("$OK#"));
    c.s.write_all(&packet("D")).unwrap();
    c.wait("OK");
    let (status, stdout, stderr) = finish(child);
    assert_eq!((status, stdout.as_str()), (0, "Hello, KVM!\n"), "{stderr}");
    assert!(
        stderr.contains("mini-kvm: gdb: breakpoint at 0x200 refused: at most 64 breakpoints"),
        "{stderr}"
    );
}

/// The 1K OS's `uptime`, in hundredths of a second (its tick count).
fn uptime(stdin: &mut impl Write, stdout: &mut impl Read, seen: &mut String) -> u64 {
    stdin.write_all(b"uptime\n").unwrap();
    read_until(stdout, seen, " ticks of the 100 Hz timer)\n");
    let line = seen.lines().rfind(|l| l.starts_with("Uptime: ")).unwrap().to_string();
    seen.clear();
    let ticks = line.split('(').nth(1).unwrap().split(' ').next().unwrap();
    ticks.parse().unwrap()
}

#[test]
fn guest_time_stands_still_while_gdb_holds_the_vm() {
    let (child, mut stdin, mut stdout) = start_interactive(&["os-1k"]);
    let mut c = Client::connect(child.port);
    c.s.write_all(&packet("c")).unwrap();
    let mut seen = String::new();
    read_until(&mut stdout, &mut seen, "> ");
    let t = std::time::Instant::now();
    let before = uptime(&mut stdin, &mut stdout, &mut seen);
    let before_took = t.elapsed();
    c.s.write_all(b"\x03").unwrap();
    c.wait("T02");
    // The thing measured: the VM held stopped for 3 s of host time (300 ticks, were they
    // counted), and stopped all along: gdb reads its registers every 20 ms until then, and
    // they never move (the client's read timeout catches a stub that stops answering).
    let held = std::time::Instant::now();
    let at_stop = c.ask("g", "");
    assert!(!at_stop.contains("$E"), "{at_stop}");
    while held.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(c.ask("g", ""), at_stop, "the registers moved while gdb held the VM");
    }
    let t = std::time::Instant::now();
    c.s.write_all(&packet("c")).unwrap();
    let after = uptime(&mut stdin, &mut stdout, &mut seen);
    let after_took = t.elapsed();
    // Reported, not asserted (timings depend on the machine): the answer after the stop
    // should come as fast as the one before it.
    eprintln!(
        "uptime ticks: {before} then {after}; answered in {before_took:?}, after the stop {after_took:?}"
    );
    // Between the two commands the guest ran only to answer them (milliseconds); 300 ticks
    // more would mean the stopped time was counted, or replayed (as KVM's PIT does by
    // default: KVM_REINJECT_CONTROL).
    assert!(
        after >= before && after - before < 150,
        "uptime went from {before} to {after} ticks across a 3 s stop"
    );
    stdin.write_all(b"0\n").unwrap();
    let end = c.wait("W");
    assert!(end.contains("$W00#"), "{end}");
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 0, "{stderr}");
}

/// Runs `mini-kvm --gdb 0 os-1k` just long enough to say where the symbol file is.
fn symbol_file_line(envs: &[(&str, &str)]) -> String {
    // Read stderr up to the line that names the file, then end the run: by what mini-kvm says,
    // not after a time (a slow, nested KVM takes a while to get there).
    let mut child = std::process::Command::new(MINI_KVM)
        .args(["--gdb", "0", "os-1k"])
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mini-kvm starts");
    let mut stderr = child.stderr.take().expect("piped");
    let mut seen = String::new();
    read_until(&mut stderr, &mut seen, "connect with");
    let mut byte = [0u8; 1];
    while !seen[seen.find("connect with").unwrap_or(0)..].contains('\n') {
        let n = stderr.read(&mut byte).unwrap_or(0);
        assert!(n > 0, "the run ended inside its gdb line:\n{seen}");
        seen.push(char::from(byte[0]));
    }
    child.kill().expect("mini-kvm is still waiting for gdb");
    child.wait().expect("mini-kvm was started");
    seen
}

#[test]
fn the_symbol_file_never_follows_a_planted_link() {
    let base = std::env::temp_dir().join(format!("mini-kvm-planted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let cache = base.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let victim = base.join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("os-1k.elf"), b"someone else's").unwrap();
    // Another user planted the directory as a link to theirs (or to a file of ours).
    std::os::unix::fs::symlink(&victim, cache.join("mini-kvm")).unwrap();
    let cache_s = cache.to_string_lossy().into_owned();
    let envs = [("XDG_CACHE_HOME", cache_s.as_str()), ("HOME", "")];
    let stderr = symbol_file_line(&envs);
    assert!(
        stderr.contains("not writing the symbol file:") && stderr.contains("is a symbolic link"),
        "{stderr}"
    );
    assert!(stderr.contains(env!("MINI_KVM_OS_1K_ELF")), "the in-tree ELF: {stderr}");
    assert_eq!(std::fs::read(victim.join("os-1k.elf")).unwrap(), b"someone else's");
    // A private directory of ours whose file is a planted link: replaced, never followed.
    std::fs::remove_file(cache.join("mini-kvm")).unwrap();
    std::fs::create_dir(cache.join("mini-kvm")).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    std::fs::set_permissions(cache.join("mini-kvm"), mode).unwrap();
    let file = offered_symbol_file(&symbol_file_line(&envs));
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(victim.join("os-1k.elf"), &file).unwrap();
    let stderr = symbol_file_line(&envs);
    assert_eq!(offered_symbol_file(&stderr), file, "{stderr}");
    assert!(!stderr.contains("not writing"), "{stderr}");
    assert!(std::fs::symlink_metadata(&file).unwrap().file_type().is_file());
    assert_eq!(std::fs::read(victim.join("os-1k.elf")).unwrap(), b"someone else's");
    std::fs::remove_dir_all(&base).unwrap();
}

/// The symbol file a `waiting for gdb` line offers.
fn offered_symbol_file(stderr: &str) -> PathBuf {
    let line =
        stderr.lines().find(|l| l.contains("connect with")).unwrap_or_else(|| panic!("{stderr}"));
    PathBuf::from(line.rsplit(' ').next().unwrap())
}

#[test]
fn each_build_offers_gdb_its_own_symbol_file_and_old_ones_go() {
    let base = std::env::temp_dir().join(format!("mini-kvm-builds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = base.join("mini-kvm");
    std::fs::create_dir_all(&dir).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    std::fs::set_permissions(&dir, mode).unwrap();
    // Another checkout's build, used just now, and the name all builds once shared, and five
    // builds used long ago.
    let other = dir.join("os-1k-0123456789abcdef.elf");
    std::fs::write(&other, b"another checkout's kernel").unwrap();
    std::fs::write(dir.join("os-1k.elf"), b"an old build's kernel").unwrap();
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(86400);
    let mut old = Vec::new();
    for i in 0..5 {
        let path = dir.join(format!("os-1k-{i:016x}.elf"));
        std::fs::write(&path, b"an old build's kernel").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(long_ago).unwrap();
        old.push(path);
    }
    let base_s = base.to_string_lossy().into_owned();
    let envs = [("XDG_CACHE_HOME", base_s.as_str())];
    let offered = offered_symbol_file(&symbol_file_line(&envs));
    // This build's kernel, under a name of its own: the other checkout's file is untouched.
    let name = offered.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("os-1k-") && name.ends_with(".elf"), "{name}");
    assert_eq!(offered.parent(), Some(dir.as_path()));
    assert_eq!(
        std::fs::read(&offered).unwrap(),
        std::fs::read(env!("MINI_KVM_OS_1K_ELF")).unwrap()
    );
    assert_eq!(std::fs::read(&other).unwrap(), b"another checkout's kernel");
    // This one, the other checkout's and the three most recently used of the rest stay.
    let left = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(left, 1 + 4, "{:?}", std::fs::read_dir(&dir).unwrap().collect::<Vec<_>>());
    // The same build again: the same file.
    assert_eq!(offered_symbol_file(&symbol_file_line(&envs)), offered);
    std::fs::remove_dir_all(&base).unwrap();
}
