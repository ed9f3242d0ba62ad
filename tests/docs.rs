//! The guided tour cannot drift from the code: every command in a ```console block of docs/*.md
//! is run, and its output must match what the page shows.
//!
//! Format: a line `$ COMMAND` is run with `bash -c` from the repository root, with the freshly
//! built `mini-kvm` first on PATH and stdin empty; the lines after it, up to the next `$ ` or the
//! end of the block, are its expected stdout and stderr (interleaved as a terminal would show
//! them: the page writes commands so that the order is fixed, e.g. `2>&1`). Numbers that differ
//! from run to run — times such as `+0.084ms` or `1.234 ms` — are compared as `#`.

use std::path::{Path, PathBuf};
use std::process::Command;

const MINI_KVM: &str = env!("CARGO_BIN_EXE_mini-kvm");

struct Example {
    file: String,
    line: usize,
    command: String,
    expected: String,
}

fn examples(path: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    let mut in_block = false;
    let mut current: Option<Example> = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            if in_block {
                out.extend(current.take());
            }
            in_block = !in_block && line.trim() == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            out.extend(current.take());
            current = Some(Example {
                file: file.clone(),
                line: i + 1,
                command: cmd.to_string(),
                expected: String::new(),
            });
        } else if let Some(ex) = current.as_mut() {
            ex.expected.push_str(line);
            ex.expected.push('\n');
        }
    }
    out
}

/// Replaces run-to-run numbers (times) by `#` so pages can show real output.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // A decimal number with a fractional part followed by "ms", "s" or " ms": a duration.
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let number = &text[start..i];
            let rest = &text[i..];
            let unit = ["ms", " ms", " us", " s ", " s)", " s\n", " ns"]
                .iter()
                .any(|u| rest.starts_with(u));
            let is_time = unit || (number.contains('.') && rest.starts_with(" s"));
            out.push_str(if is_time { "#" } else { number });
            continue;
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

#[test]
fn normalize_masks_only_durations() {
    assert_eq!(
        normalize("+0.084ms  #12 at 0000:0005"),
        "+#ms  #12 at 0000:0005"
    );
    assert_eq!(normalize("wall 1.104 ms, 13 exits"), "wall # ms, 13 exits");
    assert_eq!(normalize("10 ticks in 116 ms"), "10 ticks in # ms");
    assert_eq!(normalize("8.2 us per exit"), "# us per exit");
    assert_eq!(normalize("after 1 s (--timeout)"), "after # s (--timeout)");
    assert_eq!(normalize("exit 124"), "exit 124");
}

#[test]
fn every_command_in_the_tour_prints_what_the_tour_shows() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(MINI_KVM).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    let mut count = 0;
    let mut failures = Vec::new();
    for page in &pages {
        for ex in examples(page) {
            count += 1;
            let out = Command::new("timeout")
                .args(["20", "bash", "-c", &format!("exec 2>&1; {}", ex.command)])
                .current_dir(&root)
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .env("MINI_KVM_TEST_GUESTS", env!("MINI_KVM_TEST_GUESTS"))
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let actual = String::from_utf8_lossy(&out.stdout).into_owned();
            if normalize(&actual) != normalize(&ex.expected) {
                failures.push(format!(
                    "{}:{}: $ {}\n--- the page shows:\n{}--- the command printed:\n{}",
                    ex.file, ex.line, ex.command, ex.expected, actual
                ));
            }
        }
    }
    assert!(count > 0, "the tour has no commands");
    assert!(
        failures.is_empty(),
        "{} of {count} tour commands differ:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
