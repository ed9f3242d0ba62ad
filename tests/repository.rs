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
