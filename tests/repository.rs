//! Cheap guards on the repository itself: a student's clone is all there is, so nothing may point
//! outside it, and the files are the module tree, so no `#[path]` may bend it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, except the build outputs and git's own.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap();
            if path.is_dir() {
                if name != ".git" && name != "target" {
                    todo.push(path);
                }
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// "file:line: text" for each line of the files under `dir` that contains `needle`.
fn lines_with(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for path in files(dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for (i, line) in text.lines().enumerate() {
            if line.contains(needle) {
                let shown = path.strip_prefix(root()).unwrap_or(&path).display();
                hits.push(format!("{shown}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    hits
}

#[test]
fn nothing_cites_a_file_or_machine_outside_the_repository() {
    // Spelled in pieces, so that this file does not find itself.
    let outside = [
        concat!("../", "shared"),
        concat!("this project", "'s machines"),
        concat!("our ", "machines"),
    ];
    let hits: Vec<String> = outside
        .iter()
        .flat_map(|needle| lines_with(&root(), needle))
        .collect();
    assert!(
        hits.is_empty(),
        "a clone has only its own files, and its reader's machine is not ours: cite docs/ \
         (docs/kvm-variants.md for kinds of KVM) and say \"a paravirtual KVM\" or \"a nested \
         KVM\":\n{}",
        hits.join("\n")
    );
}

#[test]
fn no_path_attribute_bends_the_module_tree() {
    // vcpu.rs and cli.rs still pull their siblings in; when they stop, this list is empty.
    let pending: [&Path; 0] = [];
    let hits: Vec<String> = lines_with(&root().join("src"), concat!("#[", "path"))
        .into_iter()
        .filter(|hit| {
            !pending
                .iter()
                .any(|p| hit.starts_with(&format!("{}:", p.display())))
        })
        .collect();
    assert!(
        hits.is_empty(),
        "a module's file is where Rust looks for it (foo.rs, foo/tests.rs), not a #[path]:\n{}",
        hits.join("\n")
    );
}

/// The layers, lowest first: a module may use only modules below it (README, "How it works").
const LAYERS: &[&str] = &[
    // Test code only (property tests' generator): below everything, used by nothing else.
    "test_rng",
    "memory",
    "kvm",
    "x86",
    "confine",
    "guests",
    "boot",
    "devices",
    "console",
    "log",
    "error",
    "exit_address",
    "fault",
    "stats",
    "trace",
    "vcpu",
    "setup",
    "hostcheck",
    "gdb",
    "machine",
    "cli",
    "main",
];

/// The top-level module a source file belongs to: `src/gdb/server.rs` is `gdb`.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(root().join("src")).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// `crate::NAME` references in a file's non-test code, with line numbers. Test code (files
/// named tests.rs or props.rs, and whatever follows a `#[cfg(test)]` line at the start of a
/// line) may reach across layers to build what it tests.
fn crate_uses(path: &Path) -> Vec<(usize, String)> {
    let name = path.file_name().unwrap().to_string_lossy();
    if name == "tests.rs" || name == "props.rs" {
        return Vec::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    let mut uses = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let module: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            uses.push((i + 1, module));
        }
    }
    uses
}

#[test]
fn layers_point_one_way() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for path in files(&root().join("src")) {
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let module = module_of(&path);
        let Some(own) = rank(&module) else {
            wrong.push(format!(
                "{}: module `{module}` has no layer in LAYERS",
                path.display()
            ));
            continue;
        };
        for (line, used) in crate_uses(&path) {
            match rank(&used) {
                Some(r) if r < own || used == module => {}
                Some(_) => wrong.push(format!(
                    "{}:{line}: `{module}` uses `{used}`, which is not below it",
                    path.strip_prefix(root()).unwrap().display()
                )),
                None => wrong.push(format!(
                    "{}:{line}: `crate::{used}` is not a module in LAYERS",
                    path.strip_prefix(root()).unwrap().display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the layers must point one way (README, \"How it works\"):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn make_finds_the_binary_where_cargo_builds_it() {
    // `make run` and `make kernel` run what cargo built: under $CARGO_TARGET_DIR when set, as
    // cargo (and scripts/make-linux.sh) read it. `make -n` prints the commands, runs none.
    let dir = "/nonexistent/mini-kvm-target";
    let out = std::process::Command::new("make")
        .args(["-n", "--no-print-directory", "run", "kernel"])
        .current_dir(root())
        .env("CARGO_TARGET_DIR", dir)
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("make runs");
    let commands = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{commands}");
    assert!(
        commands.contains(&format!("\n{dir}/release/mini-kvm hello\n")),
        "make run: {commands}"
    );
    assert!(
        commands.contains(&format!("\"{dir}/os-1k\""))
            && commands.contains(&format!("\"{dir}/os-1k.elf\"")),
        "make kernel: {commands}"
    );
    assert!(!commands.contains(" target/"), "{commands}");
}
