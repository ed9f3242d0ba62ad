//! The guided tour cannot drift from the code: every command in a ```console block of docs/*.md
//! is run, and its output must match what the page shows.
//!
//! Format: a line `$ COMMAND` is run with `bash -c` from the repository root, with the freshly
//! built `mini-kvm` first on PATH and stdin empty; the lines after it, up to the next `$ ` or the
//! end of the block, are its expected stdout and stderr (interleaved as a terminal would show
//! them: the page writes commands so that the order is fixed, e.g. `2>&1`). Numbers that differ
//! from run to run — times such as `+0.084ms` or `1.234 ms` — are compared as `#`, and runs
//! of spaces as one, so a column that moves with a number's width does not matter.
//!
//! A block that holds on one kind of KVM only says so in its info string, "```console
//! host=paravirtual" or "```console host=real" (the `kind` of `mini-kvm --host-check=keys`),
//! and is checked on that kind only; every other block must hold on every KVM. A block whose
//! output has lines of its own that start with `$ ` (the 1K OS's shell prompts) says
//! "```console single": it holds one command, its first line, and the rest is its output.
//!
//! After a change that alters what a command prints, `DOCS_BLESS=1 cargo test --test docs`
//! writes what the commands printed into the pages (the test still fails, so nothing is
//! accepted unread): review it with `git diff docs/`.
//!
//! README.md is checked too, but only its blocks that carry an attribute (`host=...`, or
//! `run` for every kind): its other blocks show commands such as `make test` that are not
//! examples to run here.
//!
//! Every other block of a tour or lab page is checked elsewhere (a quote of the source after an
//! `<!-- excerpt: -->` line, tests/excerpts.rs) or says it is an illustration, a diagram or a
//! sample no test runs (`illustration` in its info string, "```text illustration"): a reader
//! can tell which is which, and a sample cannot pass for checked output.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Example {
    file: String,
    line: usize,
    command: String,
    expected: String,
    /// The kind of KVM the block is for; None: every kind.
    host: Option<String>,
}

/// The examples of one page; with `marked_only`, only blocks with an attribute count.
fn examples(path: &Path, marked_only: bool) -> Vec<Example> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    let mut in_block = false;
    // Inside any fenced block (collected or not), so that its closing fence is one.
    let mut in_fence = false;
    let mut block_host: Option<String> = None;
    // A `single` block: its first line is the command, all the others its output.
    let mut single = false;
    let mut current: Option<Example> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            if in_fence {
                out.extend(current.take());
                in_block = false;
                in_fence = false;
                continue;
            }
            in_fence = true;
            let mut words = info.split_whitespace();
            in_block = words.next() == Some("console");
            block_host = None;
            single = false;
            let mut marked = false;
            for word in words {
                marked = true;
                match word.strip_prefix("host=") {
                    Some(kind @ ("paravirtual" | "real")) => block_host = Some(kind.to_string()),
                    None if word == "run" || word == "illustration" => {}
                    None if word == "single" => single = true,
                    _ => panic!("{file}:{}: unknown block attribute {word:?}", i + 1),
                }
            }
            in_block &= marked || !marked_only;
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ").filter(|_| !(single && current.is_some())) {
            out.extend(current.take());
            current = Some(Example {
                file: file.clone(),
                line: i + 1,
                command: cmd.to_string(),
                expected: String::new(),
                host: block_host.clone(),
            });
        } else if let Some(ex) = current.as_mut() {
            ex.expected.push_str(line);
            ex.expected.push('\n');
        }
    }
    out
}

/// The tour's and the labs' pages.
fn pages() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut pages: Vec<PathBuf> = ["docs", "docs/labs"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages
}

#[test]
fn every_block_is_checked_or_marked_as_an_illustration() {
    let mut unmarked = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut in_fence = false;
        for (i, line) in lines.iter().enumerate() {
            let Some(info) = line.strip_prefix("```") else {
                continue;
            };
            if in_fence {
                in_fence = false;
                continue;
            }
            in_fence = true;
            let words: Vec<&str> = info.split_whitespace().collect();
            let excerpt = i > 0 && lines[i - 1].trim_start().starts_with("<!-- excerpt:");
            if words.first() == Some(&"console") || excerpt || words.contains(&"illustration") {
                continue;
            }
            unmarked.push(format!("{}:{}: ```{info}", page.display(), i + 1));
        }
        assert!(!in_fence, "{}: a block is never closed", page.display());
    }
    assert!(
        unmarked.is_empty(),
        "blocks neither checked (```console, or an excerpt) nor marked \
         \"```text illustration\":\n{}",
        unmarked.join("\n")
    );
}

/// Replaces run-to-run numbers (times) by `#` and folds runs of spaces, so pages can show
/// real output.
fn normalize(text: &str) -> String {
    let masked = mask_durations(text);
    let mut out = String::with_capacity(masked.len());
    for line in masked.lines() {
        let mut last_space = false;
        for c in line.trim_end().chars() {
            if c == ' ' && last_space {
                continue;
            }
            last_space = c == ' ';
            out.push(c);
        }
        out.push('\n');
    }
    out
}

fn mask_durations(text: &str) -> String {
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
    assert_eq!(normalize("+0.084ms  #12 at 0000:0005"), "+#ms #12 at 0000:0005\n");
    assert_eq!(normalize("wall 1.104 ms, 13 exits"), "wall # ms, 13 exits\n");
    assert_eq!(normalize("10 ticks in 116 ms"), "10 ticks in # ms\n");
    assert_eq!(normalize("8.2 us per exit"), "# us per exit\n");
    assert_eq!(normalize("after 1 s (--timeout)"), "after # s (--timeout)\n");
    assert_eq!(normalize("exit 124"), "exit 124\n");
    // Padding that moves with a number's width folds away.
    assert_eq!(
        normalize("ok irq   yes: 9 ms    timer\n"),
        normalize("ok irq   yes: 1234 ms timer\n")
    );
}

#[test]
fn every_command_in_the_tour_prints_what_the_tour_shows() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(MINI_KVM).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    // The tour and the labs.
    let mut pages = pages();
    pages.push(root.join("README.md"));
    let kind = host().kind().to_string();
    // The Linux chapter boots the real-KVM lane's kernel with the project's initramfs.
    let kernel = common::linux::find_lane_file("MINI_KVM_LINUX_KERNEL", "boot/vmlinuz-");
    let initrd = common::linux::find_lane_file("MINI_KVM_LINUX_BUSYBOX", "bin/busybox")
        .and_then(|busybox| common::linux::initramfs_file(&busybox));
    let mut count = 0;
    let mut for_this_kind = 0;
    let mut failures = Vec::new();
    let mut blessings = Vec::new();
    for page in &pages {
        let readme = page.file_name().is_some_and(|n| n == "README.md");
        for ex in examples(page, readme) {
            if ex.host.as_ref().is_some_and(|h| *h != kind) {
                continue;
            }
            count += 1;
            for_this_kind += usize::from(ex.host.is_some());
            // A Linux boot takes tens of seconds on the nested lane; anything else, a moment.
            let limit = if ex.command.contains("--linux") {
                "150"
            } else {
                // A guard against a hang: the README's gdb session needs most of a minute on
                // the nested lane, where gdb itself runs under QEMU's software CPU.
                "90"
            };
            let mut command = Command::new("timeout");
            for (var, value) in
                [("MINI_KVM_LINUX_KERNEL", &kernel), ("MINI_KVM_LINUX_INITRD", &initrd)]
            {
                if let Some(value) = value {
                    command.env(var, value);
                }
            }
            let out = command
                .args([limit, "bash", "-c", &format!("exec 2>&1; {}", ex.command)])
                .current_dir(&root)
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .env("MINI_KVM_TEST_GUESTS", env!("MINI_KVM_TEST_GUESTS"))
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let actual = String::from_utf8_lossy(&out.stdout).into_owned();
            if normalize(&actual) != normalize(&ex.expected) {
                blessings.push((
                    page.clone(),
                    ex.line,
                    ex.expected.lines().count(),
                    actual.clone(),
                ));
                failures.push(format!(
                    "{}:{}: $ {}\n--- the page shows:\n{}--- the command printed:\n{}",
                    ex.file, ex.line, ex.command, ex.expected, actual
                ));
            }
        }
    }
    if std::env::var_os("DOCS_BLESS").is_some() {
        bless(&blessings);
    }
    if kernel.is_none() && failures.iter().any(|f| f.contains("MINI_KVM_LINUX_KERNEL")) {
        failures.push(
            "(the Linux chapter's commands need a kernel: `LANE_PREPARE=1 bash \
             tests/real-kvm/lane.sh` fetches the real-KVM lane's, which this test finds by \
             itself, or set MINI_KVM_LINUX_KERNEL and MINI_KVM_LINUX_BUSYBOX)"
                .into(),
        );
    }
    assert!(count > 0, "the tour has no commands");
    assert!(
        failures.is_empty(),
        "{} of {count} tour commands differ:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(for_this_kind > 0, "the tour has no block for this kind of KVM ({kind})");
}

/// DOCS_BLESS: replaces each differing block's expected lines (after its `$` line, 1-based
/// `line`) with what the command printed, last ones first so earlier line numbers hold.
fn bless(blessings: &[(PathBuf, usize, usize, String)]) {
    let mut sorted: Vec<_> = blessings.iter().collect();
    sorted.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
    for (page, line, old_lines, actual) in sorted {
        let text = std::fs::read_to_string(page).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let new: Vec<&str> = actual.lines().collect();
        lines.splice(*line..*line + *old_lines, new);
        std::fs::write(page, lines.join("\n") + "\n").unwrap();
        eprintln!("blessed {}:{line}", page.display());
    }
}
