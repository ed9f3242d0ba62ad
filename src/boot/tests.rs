//! Unit tests of the helpers every boot protocol shares: sizes, numbers, RAM layout, segments.

use super::*;

fn usage(r: Result<u64, Ending>) -> String {
    match r {
        Err(Ending::Usage(text)) => text,
        Err(other) => panic!("not a usage error: {other}"),
        Ok(n) => panic!("accepted as {n}"),
    }
}

#[test]
fn mem_sizes_take_units_and_hex() {
    assert_eq!(parse_mem("32M").ok(), Some(32 << 20));
    assert_eq!(parse_mem("32MiB").ok(), Some(32 << 20));
    assert_eq!(parse_mem("1g").ok(), Some(1 << 30));
    assert_eq!(parse_mem("4096K").ok(), Some(4 << 20));
    assert_eq!(parse_mem("0x400000").ok(), Some(4 << 20));
    assert_eq!(parse_mem("16G").ok(), Some(16 << 30));
    assert_eq!(parse_mem("2097152").ok(), Some(2 << 20));
}

#[test]
fn mem_sizes_out_of_range_or_unreadable_are_usage_errors() {
    assert_eq!(usage(parse_mem("lots")), "--mem needs a size such as 64M, not 'lots'");
    assert!(usage(parse_mem("12Q")).contains("such as 64M"));
    assert!(usage(parse_mem("99999999999999999999G")).contains("such as 64M"));
    assert!(usage(parse_mem("18446744073709551615G")).contains("such as 64M"), "overflow");
    assert!(usage(parse_mem("")).contains("such as 64M"));
    assert!(usage(parse_mem("-1M")).contains("such as 64M"));
    for small_large_or_odd in ["1K", "1M", "17G", "2097153", "0"] {
        assert!(
            usage(parse_mem(small_large_or_odd)).contains("multiple of 4 KiB from 2M to 16G"),
            "{small_large_or_odd}"
        );
    }
}

#[test]
fn numbers_follow_c_base_rules() {
    assert_eq!(parse_number("0x1000"), Some(0x1000));
    assert_eq!(parse_number("0X1f"), Some(0x1F));
    assert_eq!(parse_number("4096"), Some(4096));
    assert_eq!(parse_number("010"), Some(8));
    assert_eq!(parse_number("0"), Some(0));
    assert_eq!(parse_number("09"), None, "9 is no octal digit");
    assert_eq!(parse_number("0x"), None);
    assert_eq!(parse_number("12abc"), None);
    assert_eq!(parse_number("0x1_0000_0000_0000_0000"), None);
    assert_eq!(parse_number("18446744073709551616"), None, "2^64");
}

#[test]
fn the_command_line_limit_is_4096_bytes() {
    assert!(check_cmdline(&"x".repeat(4096)).is_ok());
    match check_cmdline(&"x".repeat(4097)) {
        Err(Ending::Usage(t)) => {
            assert_eq!(t, "--cmdline is 4097 bytes; the kernel command line may have at most 4096")
        }
        _ => panic!("4097 bytes accepted"),
    }
}

#[test]
fn ram_past_3g_continues_above_the_hole() {
    assert_eq!(low_ram(32 << 20), 32 << 20);
    assert_eq!(mapping_size(32 << 20), 32 << 20);
    assert_eq!(low_ram(LOW_RAM_END), LOW_RAM_END);
    assert_eq!(mapping_size(LOW_RAM_END), LOW_RAM_END);
    assert_eq!(low_ram(4 << 30), LOW_RAM_END);
    assert_eq!(mapping_size(4 << 30), 5 << 30, "1 GiB above 4 GiB");
    assert_eq!(mapping_size(16 << 30), HIGH_RAM_START + (13 << 30));
}

#[test]
fn flat_segments_are_4g_ring_0_and_64_bit_code_has_l_not_d() {
    let code64 = flat_segment(0x08, true, true);
    assert_eq!((code64.type_, code64.l, code64.db, code64.g), (0xB, 1, 0, 1));
    let code32 = flat_segment(0x08, true, false);
    assert_eq!((code32.type_, code32.l, code32.db), (0xB, 0, 1));
    let data = flat_segment(0x10, false, true);
    assert_eq!((data.type_, data.l, data.db, data.s, data.present), (0x3, 0, 1, 1, 1));
    assert_eq!((data.base, data.limit, data.dpl, data.selector), (0, 0xFFFF_FFFF, 0, 0x10));
    let mut sregs = kvm_sregs::default();
    set_data_segments(&mut sregs, data);
    for s in [sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss] {
        assert_eq!((s.selector, s.type_), (0x10, 0x3));
    }
    assert_eq!(sregs.cs.selector, 0, "CS is not a data segment");
}
