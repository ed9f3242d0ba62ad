//! Unit tests of the command-line parser (cli.rs) and of its option table (options.rs).

use super::*;
use std::time::Duration;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn run(s: &str) -> Config {
    match parse(&args(s)) {
        Ok(Command::Run(o)) => o,
        other => panic!("{s}: {other:?}"),
    }
}

fn usage(s: &str) -> String {
    parse(&args(s)).unwrap_err().0
}

#[test]
fn guests_and_flags_in_any_order() {
    let o = run("hello -v counter --stats --timeout 1.5");
    assert_eq!(o.guests, vec!["hello", "counter"]);
    assert!(o.verbose && o.stats);
    assert_eq!(o.timeout, Some(Duration::from_millis(1500)));
    assert_eq!(o.mode, Mode::Auto);
    assert_eq!(
        run("--timeout=2 hello").timeout,
        Some(Duration::from_secs(2))
    );
    assert_eq!(run("-- -weird-name").guests, vec!["-weird-name"]);
}

#[test]
fn info_commands() {
    assert_eq!(parse(&args("--help hello")), Ok(Command::Help));
    assert_eq!(parse(&args("-h")), Ok(Command::Help));
    assert_eq!(parse(&args("-V")), Ok(Command::Version));
    assert_eq!(parse(&args("--list")), Ok(Command::List));
}

#[test]
fn usage_errors_say_what_is_wrong() {
    assert!(usage("").contains("no guest"));
    assert!(usage("a b c d e").contains("5 guests"));
    assert!(usage("--bogus hello").contains("unknown option '--bogus'"));
    assert!(usage("hello --timeout").contains("--timeout needs"));
    assert!(usage("hello --timeout abc").contains("not 'abc'"));
    assert!(usage("hello --timeout 0").contains("more than 0"));
    assert!(usage("hello --timeout -1").contains("more than 0"));
    assert!(usage("hello --color=pink").contains("pink"));
    assert!(usage("--long-mode --paging x").contains("choose one"));
    assert!(usage("--verbose=1 hello").contains("takes no value"));
    assert!(usage("--entry zz --paging k").contains("not 'zz'"));
}

#[test]
fn seed_mode_options() {
    assert_eq!(run("--long-mode hello_64").mode, Mode::Long);
    assert_eq!(
        run("--paging k").mode,
        Mode::Paging {
            entry: 0x8000_1000,
            load: 0x1000
        }
    );
    // The seed rejected --entry=...; we take both spellings.
    assert_eq!(
        run("--paging --entry=0x80002000 --load 4096 k").mode,
        Mode::Paging {
            entry: 0x8000_2000,
            load: 4096
        }
    );
    assert_eq!(run("--color never a").color, ColorChoice::Never);
}

#[test]
fn trace_classes_are_optional() {
    let o = run("--trace hello");
    assert_eq!(o.guests, vec!["hello"], "--trace does not eat the guest");
    assert!(o.trace.is_some());
    assert_eq!(
        run("--trace=hlt hello").trace,
        crate::trace::parse_classes(Some("hlt")).ok()
    );
    assert!(usage("--trace=nope hello").contains("'nope'"));
}

#[test]
fn gdb_port() {
    assert_eq!(run("--gdb 1234 os-1k").gdb, Some(1234));
    assert_eq!(run("--gdb=:4321 hello").gdb, Some(4321));
    assert_eq!(run("--gdb 0 hello").gdb, Some(0));
    assert!(usage("--gdb x hello").contains("'x'"));
}

#[test]
fn kernel_options() {
    let o = run("--mem 64M --cmdline=quiet --module a.tar --module b os-1k");
    assert_eq!(o.mem, Some(64 << 20));
    assert_eq!(o.cmdline.as_deref(), Some("quiet"));
    assert_eq!(o.modules, vec!["a.tar", "b"]);
    assert!(usage("--mem 1K k").contains("from 2M to 16G"));
    assert!(usage("--mem 17G k").contains("from 2M to 16G"));
    assert!(usage("--mem lots k").contains("not 'lots'"));
    assert_eq!(parse_size("32MiB"), Some(32 << 20));
    assert_eq!(parse_size("1g"), Some(1 << 30));
    assert_eq!(parse_size("4096"), Some(4096));
    assert_eq!(parse_size("0x400000"), Some(4 << 20));
    assert_eq!(parse_size("12Q"), None);
    assert_eq!(parse_size("99999999999999999999G"), None);
}

#[test]
fn numbers_follow_c_base_rules() {
    assert_eq!(parse_number("0x1000"), Some(0x1000));
    assert_eq!(parse_number("4096"), Some(4096));
    assert_eq!(parse_number("010"), Some(8));
    assert_eq!(parse_number("0"), Some(0));
    assert_eq!(parse_number("0x"), None);
    assert_eq!(parse_number("12abc"), None);
}

#[test]
fn every_option_is_in_the_help_once() {
    let help = help();
    for opt in options::OPTIONS {
        let shown = help
            .lines()
            .filter_map(|l| l.strip_prefix("  "))
            .filter_map(|l| match opt.short {
                Some(short) => l.strip_prefix(short)?.strip_prefix(", "),
                None => l.strip_prefix("    "),
            })
            .filter_map(|l| l.strip_prefix(opt.long))
            .filter(|rest| rest.starts_with([' ', '[']))
            .count();
        assert_eq!(shown, 1, "{} in --help:\n{help}", opt.long);
    }
}

#[test]
fn option_names_are_unique() {
    let mut names: Vec<&str> = options::OPTIONS
        .iter()
        .flat_map(|o| [Some(o.long), o.short, o.alias])
        .flatten()
        .collect();
    let all = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all, "a name is in the table twice");
}

#[test]
fn every_option_without_a_value_refuses_one() {
    for opt in options::OPTIONS {
        if let options::Takes::Nothing(_) = opt.takes {
            let message = usage(&format!("{}=x hello", opt.long));
            assert_eq!(
                message,
                format!("{0} takes no value: give {0} alone, not {0}=x", opt.long)
            );
        }
    }
}

#[test]
fn every_option_that_needs_a_value_says_which() {
    for opt in options::OPTIONS {
        if let options::Takes::Value { needs, .. } = opt.takes {
            assert_eq!(usage(opt.long), format!("{} needs {needs}", opt.long));
        }
    }
    assert_eq!(usage("--colour"), "--colour needs auto, always or never");
}

#[test]
fn options_outside_their_run_are_refused() {
    assert!(usage("--initrd i hello").contains("--initrd is for --linux kernels"));
    assert!(usage("--linux-entry 32 hello").contains("--linux-entry is for --linux"));
    assert!(usage("--load 0 hello").contains("--load is for --paging guests"));
    assert!(usage("--linux k --module m").contains("takes no --module"));
    assert!(usage("--linux k --paging").contains("the boot protocol sets the CPU mode"));
    assert!(usage("--linux k hello").contains("takes no guest files"));
    let o = run("--linux k --initrd i --linux-entry 32");
    assert_eq!(
        (o.linux.as_deref(), o.initrd.as_deref(), o.linux_entry32),
        (Some("k"), Some("i"), true)
    );
}

#[test]
fn commands_win_over_runs() {
    assert_eq!(parse(&args("--help --bogus")), Ok(Command::Help));
    assert_eq!(parse(&args("--list --verbose")), Ok(Command::List));
    assert_eq!(
        parse(&args("--host-check=keys")),
        Ok(Command::HostCheck(crate::hostcheck::Format::Keys))
    );
    assert!(usage("--host-check=garbage").contains("table or keys, not 'garbage'"));
    assert!(usage("--bogus --help").contains("unknown option"));
}
