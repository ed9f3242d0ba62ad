//! The command line from the real binary, driven by its own `--help`: every option shown there
//! is tried, so an option added to the table is checked without touching this file.

mod common;
use common::*;

/// What an option line of `--help` shows after the option's long name.
#[derive(Debug, PartialEq)]
enum Value {
    /// Nothing: two spaces, then the help text.
    None,
    /// `[=...]`: optional, given only as `--name=VALUE`.
    Optional,
    /// ` PLACEHOLDER`.
    Required,
}

/// The long options of `mini-kvm --help`, with the kind of value each takes.
fn options() -> Vec<(String, Value)> {
    let r = run(&["--help"]);
    assert_eq!(r.status, 0);
    let section = r.stdout.split("Options:\n").nth(1).expect("an Options section");
    let section = section.split("\n\n").next().unwrap();
    let mut found = Vec::new();
    for line in section.lines() {
        let Some(at) = line.find("--") else { continue };
        // Continuation lines are indented to the help column, option lines are not.
        if !line.starts_with("  -") && !line.starts_with("      --") {
            continue;
        }
        let rest = &line[at..];
        let end = rest.find([' ', '[']).unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        let value = if after.starts_with("[=") {
            Value::Optional
        } else if after.starts_with("  ") || after.is_empty() {
            Value::None
        } else {
            Value::Required
        };
        found.push((name.to_string(), value));
    }
    found
}

#[test]
fn help_shows_every_kind_of_option() {
    let options = options();
    for name in ["--help", "--version", "--list", "--verbose", "--stats"] {
        assert!(options.contains(&(name.into(), Value::None)), "{name}: {options:?}");
    }
    for name in ["--host-check", "--trace"] {
        assert!(options.contains(&(name.into(), Value::Optional)), "{name}: {options:?}");
    }
    for name in ["--timeout", "--mem", "--gdb", "--linux"] {
        assert!(options.contains(&(name.into(), Value::Required)), "{name}: {options:?}");
    }
}

#[test]
fn an_option_without_a_value_refuses_one_with_status_2() {
    for (name, value) in options() {
        if value != Value::None {
            continue;
        }
        for given in [format!("{name}=x"), format!("{name}=")] {
            let r = run(&[&given, "hello"]);
            assert_eq!(r.status, 2, "{given}: {}", r.stderr);
            assert_eq!(r.stdout, "", "{given}");
            assert_one_line(&r, &[&format!("{name} takes no value: give {name} alone"), "--help"]);
        }
    }
}

#[test]
fn an_optional_value_that_is_not_one_is_refused_with_status_2() {
    for (name, value) in options() {
        if value != Value::Optional {
            continue;
        }
        let given = format!("{name}=garbage");
        let r = run(&[&given, "hello"]);
        assert_eq!(r.status, 2, "{given}: {}", r.stderr);
        assert_one_line(&r, &[&name, "'garbage'"]);
    }
}

#[test]
fn a_missing_value_is_named_with_status_2() {
    for (name, value) in options() {
        if value != Value::Required {
            continue;
        }
        let r = run(&[&name]);
        assert_eq!(r.status, 2, "{name}: {}", r.stderr);
        assert_one_line(&r, &[&format!("{name} needs ")]);
    }
}
