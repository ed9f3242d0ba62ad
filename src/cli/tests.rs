//! Unit tests of the command-line parser and its option table.

use super::*;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn run(s: &str) -> Config {
    match parse(&args(s)) {
        Ok(Command::Run(c)) => c,
        Ok(_) => panic!("{s}: not a run"),
        Err(e) => panic!("{s}: {e}"),
    }
}

/// The usage error's text for command line `s`.
fn usage(s: &str) -> String {
    match parse(&args(s)) {
        Err(Ending::Usage(text)) => text,
        Err(other) => panic!("{s}: not a usage error: {other}"),
        Ok(_) => panic!("{s}: accepted"),
    }
}

#[test]
fn guests_and_options_in_any_order() {
    let c = run("hello -v counter --stats --timeout 1.5");
    assert_eq!(c.guests, ["hello", "counter"]);
    assert!(c.verbose && c.flag("--stats") && !c.flag("--trace"));
    assert_eq!(c.timeout, Some(Duration::from_millis(1500)));
    assert_eq!(run("--timeout=2 hello").timeout, Some(Duration::from_secs(2)));
    assert_eq!(run("-- -weird-name").guests, ["-weird-name"]);
    assert_eq!(run("-").guests, ["-"], "a lone dash is a file name");
}

#[test]
fn commands_that_run_no_guest() {
    assert!(matches!(parse(&args("--help hello")), Ok(Command::Help)));
    assert!(matches!(parse(&args("-h")), Ok(Command::Help)));
    assert!(matches!(parse(&args("-V")), Ok(Command::Version)));
    assert!(matches!(parse(&args("--list")), Ok(Command::List)));
    assert!(matches!(parse(&args("--host-check")), Ok(Command::HostCheck(None))));
    match parse(&args("--host-check=keys")) {
        Ok(Command::HostCheck(Some(v))) => assert_eq!(v, "keys"),
        _ => panic!("--host-check=keys"),
    }
}

#[test]
fn usage_errors_say_what_is_wrong() {
    assert!(usage("").contains("no guest given"));
    assert!(usage("a b c d e").contains("5 guests given; mini-kvm runs at most 4"));
    assert_eq!(usage("--bogus hello"), "unknown option '--bogus'");
    assert_eq!(usage("hello --timeout"), "--timeout needs a number of seconds");
    assert!(usage("hello --timeout abc").contains("not 'abc'"));
    assert!(usage("hello --timeout 0").contains("more than 0"));
    assert!(usage("hello --timeout -1").contains("more than 0"));
    assert!(usage("hello --timeout 0.0001").contains("at least 0.001"));
    assert!(usage("hello --timeout NaN").contains("more than 0"));
    assert!(usage("hello --color=pink").contains("not 'pink'"));
    assert_eq!(
        usage("--verbose=1 hello"),
        "--verbose takes no value: give --verbose alone, not --verbose=1"
    );
}

#[test]
fn a_value_option_given_twice_is_refused_but_modules_repeat() {
    assert_eq!(
        usage("--timeout 1 --timeout 2 hello"),
        "--timeout is given twice ('1' and '2'): give it once"
    );
    let c = run("--module a.tar --module=b k");
    assert_eq!(c.values("--module").collect::<Vec<_>>(), ["a.tar", "b"]);
}

#[test]
fn options_outside_their_scope_are_refused_not_ignored() {
    assert!(usage("--long-mode --paging x").contains("choose one"));
    assert!(usage("--initrd i k").starts_with("--initrd is for --linux kernels"));
    assert!(
        usage("--linux k --module m").starts_with("--linux boots one kernel and takes no --module")
    );
    assert!(usage("--linux k --gdb 1234").contains("--gdb"));
    assert!(usage("--linux k extra").contains("guest files"));
    assert!(usage("--entry 0x1000 x").starts_with("--entry is for --paging guests"));
    let c = run("--paging --entry=0x80002000 --load 4096 k");
    assert_eq!((c.value("--entry"), c.value("--load")), (Some("0x80002000"), Some("4096")));
    assert!(matches!(parse(&args("--linux k --initrd i")), Ok(Command::Run(_))));
}

#[test]
fn optional_values_only_take_the_equals_form() {
    let c = run("--trace hello");
    assert_eq!(c.guests, ["hello"], "--trace does not eat the guest");
    assert!(c.flag("--trace") && c.value("--trace").is_none());
    assert_eq!(run("--trace=hlt hello").value("--trace"), Some("hlt"));
}

#[test]
fn colour_is_spelled_either_way() {
    assert_eq!(run("--color never a").color, Some(false));
    assert_eq!(run("--colour=always a").color, Some(true));
    assert_eq!(run("--color=auto a").color, None);
    assert_eq!(run("a").color, None);
}

#[test]
fn option_names_are_unique() {
    let mut names: Vec<&str> =
        OPTIONS.iter().flat_map(|o| [o.0, o.1]).filter(|n| !n.is_empty()).collect();
    let all = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all, "a name appears twice in OPTIONS");
    assert!(OPTIONS.iter().all(|o| o.0.starts_with("--")));
}

#[test]
fn every_option_is_in_the_help_once_with_what_it_takes() {
    let help = crate::help::HELP;
    for &(long, alt, takes, _) in OPTIONS {
        let shown: Vec<&str> = help
            .lines()
            .filter_map(|l| {
                let l = l.strip_prefix("  ")?;
                let l = if alt.starts_with('-') && alt.len() == 2 {
                    l.strip_prefix(alt)?.strip_prefix(", ")?
                } else {
                    l.strip_prefix("    ")?
                };
                l.strip_prefix(long).filter(|rest| rest.starts_with([' ', '[', '=']))
            })
            .collect();
        assert_eq!(shown.len(), 1, "{long} in --help:\n{help}");
        let rest = shown[0];
        match takes {
            Nothing => assert!(rest.starts_with("  "), "{long} shows no value"),
            Optional => assert!(rest.starts_with("[="), "{long} shows [=VALUE]"),
            Value(_) | Values(_) => {
                assert!(rest.starts_with(' ') && !rest.starts_with("  "), "{long} shows a VALUE")
            }
        }
    }
}
