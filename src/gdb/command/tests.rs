//! Unit tests for command.rs (kept apart so the module reads on its own).
use super::*;

fn p(s: &str) -> Command {
    parse(s.as_bytes()).unwrap()
}

#[test]
fn registers_and_halt_reason() {
    assert_eq!(p("?"), Command::HaltReason);
    assert_eq!(p("g"), Command::ReadRegisters);
    assert_eq!(p("G0102"), Command::WriteRegisters(vec![1, 2]));
    assert_eq!(p("p10"), Command::ReadRegister(16));
    assert_eq!(p("pA"), Command::ReadRegister(10), "hex digits in either case");
    assert_eq!(p("P10=aabb"), Command::WriteRegister(16, vec![0xaa, 0xbb]));
}

#[test]
fn memory() {
    assert_eq!(p("m1000,4"), Command::ReadMemory { addr: 0x1000, len: 4 });
    assert_eq!(
        p("mffffffff80100000,40"),
        Command::ReadMemory { addr: 0xffff_ffff_8010_0000, len: 0x40 }
    );
    assert_eq!(p("M10,2:abcd"), Command::WriteMemory { addr: 0x10, data: vec![0xab, 0xcd] });
    // X carries raw bytes, ':' and ',' included; the zero-length probe gdb sends first.
    assert_eq!(
        parse(b"X20,3:\x00:,").unwrap(),
        Command::WriteMemory { addr: 0x20, data: vec![0, b':', b','] }
    );
    assert_eq!(p("X20,0:"), Command::WriteMemory { addr: 0x20, data: vec![] });
}

#[test]
fn resume_kill_detach() {
    assert_eq!(p("c"), Command::Continue(None));
    assert_eq!(p("c1000"), Command::Continue(Some(0x1000)));
    assert_eq!(p("s"), Command::Step(None));
    assert_eq!(p("s1004"), Command::Step(Some(0x1004)));
    assert_eq!(p("k"), Command::Kill);
    assert_eq!(p("D"), Command::Detach);
    assert_eq!(p("vCont?"), Command::VContQuery);
    assert_eq!(
        p("vCont;s:2;c"),
        Command::VCont(vec![
            (VContAction::Step, Some(ThreadId::Id(2))),
            (VContAction::Continue, None)
        ])
    );
    assert_eq!(
        p("vCont;C05:1;c:-1"),
        Command::VCont(vec![
            (VContAction::Continue, Some(ThreadId::Id(1))),
            (VContAction::Continue, Some(ThreadId::All))
        ])
    );
    // Actions this stub does not do (stop, range step) make the whole packet unsupported.
    assert_eq!(p("vCont;t"), Command::Unknown);
    assert_eq!(p("vCont;r1000,1010:1"), Command::Unknown);
    assert_eq!(p("vKill;1"), Command::Unknown);
    assert_eq!(p("vMustReplyEmpty"), Command::Unknown);
}

#[test]
fn breakpoints() {
    assert_eq!(
        p("Z0,ffffffff80101000,1"),
        Command::Breakpoint { insert: true, kind: 0, addr: 0xffff_ffff_8010_1000, size: 1 }
    );
    assert_eq!(
        p("z0,1000,1"),
        Command::Breakpoint { insert: false, kind: 0, addr: 0x1000, size: 1 }
    );
    // Hardware breakpoints parse (the server answers "unsupported").
    assert_eq!(
        p("Z1,1000,1"),
        Command::Breakpoint { insert: true, kind: 1, addr: 0x1000, size: 1 }
    );
    // A condition list after the kind is ignored, not an error.
    assert_eq!(
        p("Z0,1000,1;X3,220027"),
        Command::Breakpoint { insert: true, kind: 0, addr: 0x1000, size: 1 }
    );
}

#[test]
fn threads() {
    assert_eq!(p("Hg1"), Command::SetThread { for_resume: false, tid: ThreadId::Id(1) });
    assert_eq!(p("Hc-1"), Command::SetThread { for_resume: true, tid: ThreadId::All });
    assert_eq!(p("Hg0"), Command::SetThread { for_resume: false, tid: ThreadId::Any });
    assert_eq!(p("Hs1"), Command::Unknown, "only g and c are thread kinds here");
    assert_eq!(p("T2"), Command::ThreadAlive(ThreadId::Id(2)));
    assert_eq!(p("Ta"), Command::ThreadAlive(ThreadId::Id(10)), "ids are hex");
    assert_eq!(p("qfThreadInfo"), Command::QueryFirstThread);
    assert_eq!(p("qsThreadInfo"), Command::QueryNextThread);
    assert_eq!(p("qC"), Command::QueryCurrentThread);
    assert_eq!(p("qThreadExtraInfo,2"), Command::QueryThreadExtraInfo(ThreadId::Id(2)));
}

#[test]
fn queries() {
    assert_eq!(
        p("qSupported:multiprocess+;xmlRegisters=i386"),
        Command::QuerySupported("multiprocess+;xmlRegisters=i386".into())
    );
    assert_eq!(p("qSupported"), Command::QuerySupported(String::new()));
    assert_eq!(p("QStartNoAckMode"), Command::StartNoAckMode);
    assert_eq!(
        p("qXfer:features:read:target.xml:0,ffb"),
        Command::QueryXferFeatures { annex: "target.xml".into(), offset: 0, length: 0xffb }
    );
    assert_eq!(
        p("qXfer:features:read:a:b.xml:10,20"),
        Command::QueryXferFeatures { annex: "a:b.xml".into(), offset: 0x10, length: 0x20 }
    );
    assert_eq!(p("qAttached"), Command::QueryAttached);
    // gdb's `monitor pagewalk 0x1000`: qRcmd with the text in hex.
    assert_eq!(
        p("qRcmd,7061676577616c6b20307831303030"),
        Command::Monitor("pagewalk 0x1000".into())
    );
    assert_eq!(p("qRcmd,"), Command::Monitor(String::new()));
    // Near misses of known queries are not taken for them.
    assert_eq!(p("qTStatus"), Command::Unknown);
    assert_eq!(p("qCRC:0,1"), Command::Unknown);
    assert_eq!(p("qSupportedX"), Command::Unknown);
    assert_eq!(p("qXfer:auxv:read::0,100"), Command::Unknown);
    assert_eq!(p(""), Command::Unknown);
    assert_eq!(p("!"), Command::Unknown);
}

#[test]
fn malformed_packets_are_errors_not_panics() {
    for bad in [
        "m",
        "m12",
        "mzz,1",
        "m,4",
        "m1,",
        "M1,2:ab",
        "M1,1:zz",
        "M1,1",
        "X1,2:a",
        "X1",
        "P1",
        "P1=xyz",
        "Pz=00",
        "p",
        "pq",
        "Z0,1",
        "Z0,zz,1",
        "Z100,1000,1",
        "Hgxyz",
        "Hg",
        "T",
        "G0",
        "Gzz",
        "c12q",
        "s-1",
        "vCont;",
        "vCont;s:zz",
        "qThreadExtraInfo,",
        "qRcmd,7",
        "qRcmd,zz",
        "qXfer:features:read:t",
        "qXfer:features:read:target.xml:0",
        "qXfer:features:read:target.xml:q,1",
        "m11111111111111111,1",
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(parse(b"q\xff\xfe").is_err(), "a query that is not text");
}

#[test]
fn huge_lengths_are_clamped_not_allocated() {
    assert_eq!(p("m0,ffffffffffffffff"), Command::ReadMemory { addr: 0, len: MAX_PACKET / 2 });
}

#[test]
fn every_byte_sequence_parses_or_errs() {
    // A little xorshift fuzzer over the command letters and the characters they use.
    let alphabet = b"?gGpPmMXcsvCont;:,=-0123456789abcdefzZkDHTqQSupportedXfer";
    let mut seed = 0x2545_F491u32;
    for _ in 0..20_000 {
        let mut packet = Vec::new();
        for _ in 0..(seed % 24) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            packet.push(alphabet[seed as usize % alphabet.len()]);
        }
        let _ = parse(&packet);
    }
}

#[test]
fn replies() {
    assert_eq!(stop_reply(5, 1), "T05thread:1;");
    assert_eq!(stop_reply(2, 10), "T02thread:a;");
    let supported = supported_reply();
    for feature in ["PacketSize=", "qXfer:features:read+", "QStartNoAckMode+", "vContSupported+"] {
        assert!(supported.contains(feature), "{feature} in {supported}");
    }
    let size = supported
        .split(';')
        .find_map(|f| f.strip_prefix("PacketSize="))
        .and_then(|hex| usize::from_str_radix(hex, 16).ok());
    assert_eq!(size, Some(MAX_PACKET), "PacketSize is hex");
}

#[test]
fn xfer_replies_walk_the_document() {
    assert_eq!(xfer_reply(b"abcdef", 0, 4), b"mabcd".to_vec());
    assert_eq!(xfer_reply(b"abcdef", 4, 4), b"lef".to_vec());
    assert_eq!(xfer_reply(b"abcdef", 0, 6), b"labcdef".to_vec());
    assert_eq!(xfer_reply(b"abcdef", 99, 4), b"l".to_vec());
    assert_eq!(xfer_reply(b"abcdef", usize::MAX, usize::MAX), b"l".to_vec());
    // Reassembling the chunks as gdb does gives the document back.
    let doc: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut got = Vec::new();
    loop {
        let reply = xfer_reply(&doc, got.len(), 0x3ff);
        got.extend_from_slice(&reply[1..]);
        if reply[0] == b'l' {
            break;
        }
    }
    assert_eq!(got, doc);
}

#[test]
fn exit_replies_carry_the_status_or_the_fault() {
    use crate::gdb::debugger::Ended;
    let exit = |v: &[Option<Ended>]| exit_reply(v);
    assert_eq!(exit(&[Some(Ended::Exit(0))]), (None, "W00".into()));
    assert_eq!(exit(&[Some(Ended::Exit(0)), Some(Ended::Exit(7))]), (None, "W07".into()));
    let (note, reply) = exit(&[Some(Ended::Exit(3)), Some(Ended::Fault("triple".into()))]);
    assert_eq!(reply, "X0b");
    assert_eq!(note.unwrap(), "mini-kvm: the guest faulted: triple\n");
    assert_eq!(exit(&[Some(Ended::Stopped)]).1, "X09");
}
