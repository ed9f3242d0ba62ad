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
    let hits: Vec<String> = outside.iter().flat_map(|needle| lines_with(&root(), needle)).collect();
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
        .filter(|hit| !pending.iter().any(|p| hit.starts_with(&format!("{}:", p.display()))))
        .collect();
    assert!(
        hits.is_empty(),
        "a module's file is where Rust looks for it (foo.rs, foo/tests.rs), not a #[path]:\n{}",
        hits.join("\n")
    );
}

/// The core, lowest first: a core module may use only core modules below it, and never a layer
/// (docs/02-exits-and-the-run-loop.md, "The core and its layers"). `boot/realmode` is the
/// core's one file of `boot`.
const CORE: &[&str] = &[
    "test_rng",
    "memory",
    "kvm",
    "error",
    "explain",
    "devices",
    "console",
    "cli",
    "guests",
    "help",
    "vcpu",
    "machine",
    "boot/realmode",
];
/// The layers: each may use the core and other layers; only `main` installs them.
const LAYERS: &[&str] = &[
    "x86",
    "exit_address",
    "fault",
    "stats",
    "trace",
    "coalesce",
    "confine",
    "boot",
    "hostcheck",
    "gdb",
    "virtio",
    "smp",
];
/// What some core modules may use beyond the rule: nothing. `kvm/` is only KVM (and the RAM it
/// maps); devices are pure: no KVM, no console, no machine.
const ONLY: &[(&str, &[&str])] = &[("kvm", &["memory"]), ("devices", &["error"])];

/// The module a source file belongs to, as the rules name it: `src/gdb/server.rs` is `gdb`,
/// `src/boot/realmode.rs` is `boot/realmode`, `src/main.rs` is `main`.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(root().join("src")).unwrap().to_string_lossy().replace(".rs", "");
    match rel.split('/').next().unwrap() {
        "boot" if rel == "boot/realmode" => rel,
        first => first.to_string(),
    }
}

/// The Rust module path of a file: `src/boot/multiboot/boot_area.rs` is
/// `["boot", "multiboot", "boot_area"]`, `src/boot/mod.rs` is `["boot"]`, `src/main.rs` is `[]`.
fn module_path(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(root().join("src")).unwrap().to_string_lossy().replace(".rs", "");
    rel.split('/').filter(|p| *p != "mod" && *p != "main").map(String::from).collect()
}

/// The lines of `text` that are not test code: everything but each `#[cfg(test)]` item (to its
/// closing brace, or its `;`), and but comments. Numbered from 1.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let (mut out, mut skip, mut depth, mut opened) = (Vec::new(), false, 0i32, false);
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("").to_string();
        if skip {
            depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
            opened |= code.contains('{');
            skip = !((opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')));
            continue;
        }
        if code.trim_start().starts_with("#[cfg(test)]") {
            (skip, depth, opened) = (true, 0, false);
            continue;
        }
        out.push((i + 1, code));
    }
    out
}

/// The top-level modules `code` names through `crate::` (`crate::kvm::Vcpu`, `crate::{a, b}`)
/// or `super::` (resolved from `module`, the file's module path).
fn named_modules(code: &str, module: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let ident = |s: &str| {
        s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>()
    };
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let inner = group.split('}').next().unwrap_or("");
                found.extend(inner.split(',').map(|p| ident(p.trim())).filter(|m| !m.is_empty()));
            }
            None => found.push(ident(rest)),
        }
    }
    let mut rest = code;
    while let Some(at) = rest.find("super::") {
        let mut up = 0;
        rest = &rest[at..];
        while let Some(r) = rest.strip_prefix("super::") {
            (rest, up) = (r, up + 1);
        }
        let base = &module[..module.len().saturating_sub(up)];
        found.push(match base.first() {
            Some(top) => top.clone(),
            None if module.len() >= up => ident(rest), // super:: up to the crate root names a module
            None => "main".into(),
        });
    }
    found
}

/// For a file: each (line, module named) of its non-test code, with what its invocations of
/// the crate's own macros (`name!`) name, from the macros' bodies.
fn uses(path: &Path, macros: &[(String, Vec<String>)]) -> Vec<(usize, String)> {
    uses_in(&std::fs::read_to_string(path).unwrap(), &module_path(path), macros)
}

/// [`uses`] of a file's text, the file being module `module`.
fn uses_in(
    text: &str,
    module: &[String],
    macros: &[(String, Vec<String>)],
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (line, code) in code_lines(text) {
        out.extend(named_modules(&code, module).into_iter().map(|m| (line, m)));
        for (name, names) in macros {
            if code.contains(&format!("{name}!")) && !code.contains("macro_rules!") {
                out.extend(names.iter().map(|m| (line, m.clone())));
            }
        }
    }
    out
}

/// The crate's macros (`macro_rules! name`) and the modules their bodies name.
fn crate_macros(sources: &[PathBuf]) -> Vec<(String, Vec<String>)> {
    let mut macros = Vec::new();
    for path in sources {
        let text = std::fs::read_to_string(path).unwrap();
        for (at, _) in text.match_indices("macro_rules! ") {
            let name: String = text[at + 13..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let body = text[at..].split("\n}\n").next().unwrap_or("");
            macros.push((name, named_modules(body, &module_path(path))));
        }
    }
    macros
}

/// Every way a file breaks the rules, as "file:line: why".
fn breaches(path: &Path, macros: &[(String, Vec<String>)]) -> Vec<String> {
    let name = path.file_name().unwrap().to_string_lossy();
    if name == "tests.rs"
        || name == "props.rs"
        || path.components().any(|c| c.as_os_str() == "tests")
    {
        return Vec::new(); // test code may reach anywhere to build what it tests
    }
    let module = module_of(path);
    let shown = path.strip_prefix(root()).unwrap().display().to_string();
    let core_rank = |m: &str| CORE.iter().position(|c| *c == m);
    let mut wrong = Vec::new();
    for (line, used) in uses(path, macros) {
        let used_core = core_rank(&used);
        let used_layer = LAYERS.contains(&used.as_str());
        if used == module || module == "main" && (used_core.is_some() || used_layer) {
            continue;
        }
        let why = match (core_rank(&module), used_core, used_layer) {
            (_, None, false) if used != "main" => {
                format!("`crate::{used}` is not a module of the core or a layer")
            }
            (Some(_), _, _) if used == "main" => format!("`{module}` names main's items"),
            (Some(_), None, true) => format!("the core module `{module}` names the layer `{used}`"),
            (Some(own), Some(r), _) if r >= own => {
                format!("`{module}` uses `{used}`, which is not below it")
            }
            (Some(_), Some(_), _)
                if ONLY.iter().any(|(m, ok)| *m == module && !ok.contains(&used.as_str())) =>
            {
                format!(
                    "`{module}` may use only {:?}, not `{used}`",
                    ONLY.iter().find(|(m, _)| *m == module).unwrap().1
                )
            }
            (None, _, _) if !LAYERS.contains(&module.as_str()) => {
                format!("module `{module}` is in neither CORE nor LAYERS")
            }
            _ => continue,
        };
        wrong.push(format!("{shown}:{line}: {why}"));
    }
    wrong
}

#[test]
fn layers_point_one_way() {
    let sources: Vec<PathBuf> = files(&root().join("src"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    let macros = crate_macros(&sources);
    let wrong: Vec<String> = sources.iter().flat_map(|p| breaches(p, &macros)).collect();
    assert!(
        wrong.is_empty(),
        "the core and its layers (docs/02-exits-and-the-run-loop.md, \"The core and its \
         layers\"):\n{}",
        wrong.join("\n")
    );
}

/// The checker itself, on planted edges it must catch: a use below a `#[cfg(test)]` module,
/// one through a macro, one through `super::super`, one in a grouped import.
#[test]
fn the_layer_check_catches_each_kind_of_planted_edge() {
    let path = |rel: &str| module_path(&root().join("src").join(rel));
    let named = |rel: &str, text: &str| -> Vec<String> {
        uses_in(text, &path(rel), &[]).into_iter().map(|(_, m)| m).collect()
    };
    let below_tests = "fn a() {}\n#[cfg(test)]\nmod tests;\nfn b() { crate::machine::run(); }\n";
    assert_eq!(named("guests.rs", below_tests), ["machine"], "code after a test module is read");
    let test_block = "#[cfg(test)]\nmod tests {\n    use crate::machine;\n}\nfn c() {}\n";
    assert!(named("guests.rs", test_block).is_empty(), "a test module's own lines are not");
    assert_eq!(named("boot/multiboot/boot_area.rs", "use super::super::kernel;\n"), ["boot"]);
    assert_eq!(named("devices/uart.rs", "use super::super::console::Output;\n"), ["console"]);
    assert_eq!(named("vcpu.rs", "use crate::{kvm::Exit, trace};\n"), ["kvm", "trace"]);
    let macros = vec![("say".to_string(), vec!["console".to_string()])];
    let via_macro: Vec<String> =
        uses_in("fn d() { say!(\"x\"); }\n", &path("devices/mod.rs"), &macros)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
    assert_eq!(via_macro, ["console"], "a macro's body counts where it is invoked");
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

/// `scripts/reading-path ARGS` (a run under valgrind), with `stdin` as the guest's input: the
/// files and their code lines, and the total.
fn reading_path(args: &[&str], stdin: &[u8]) -> (Vec<(String, usize)>, usize) {
    let input = std::env::temp_dir().join(format!("mini-kvm-reading-{}", std::process::id()));
    std::fs::write(&input, stdin).unwrap();
    let out = std::process::Command::new(root().join("scripts/reading-path"))
        .args(args)
        .env("READING_PATH_STDIN", &input)
        .current_dir(root())
        .output()
        .expect("scripts/reading-path runs (it needs valgrind: make test installs it)");
    let _ = std::fs::remove_file(&input);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let mut files = Vec::new();
    let mut total = 0;
    for line in text.lines() {
        let (n, what) = line.trim().split_once("  ").expect("`N  file` lines");
        let n: usize = n.trim().parse().unwrap();
        match what.trim() {
            w if w.starts_with("code lines in") => total = n,
            file => files.push((file.to_string(), n)),
        }
    }
    (files, total)
}

/// The files of the disk layer a 1K OS run executes: the virtio device and its driver side,
/// the eventfds, and the irqfd probe (which builds a 64-bit probe VM: hostcheck's probe
/// runner and the long-mode boot). The 1K OS always has a disk; without these its run is the
/// core, the kernel boot protocol and COM1.
fn disk_layer(file: &str) -> bool {
    file.starts_with("src/virtio/")
        || ["src/kvm/eventfd.rs", "src/hostcheck/eventfd.rs", "src/hostcheck/probe.rs"]
            .contains(&file)
        || file == "src/boot/longmode.rs"
}

/// docs/reading-order.md lists the files `mini-kvm hello` runs, each with its code lines, and
/// they are the files and numbers a run finds; the core stays within its budget: at most 2,000
/// code lines in at most 16 files, and the 1K OS's run at most 3,500 without its disk layer
/// (5,200 with it).
#[test]
fn the_reading_order_is_the_hello_path_and_the_core_fits_its_budget() {
    let page = std::fs::read_to_string(root().join("docs/reading-order.md")).unwrap();
    let listed: Vec<(String, usize)> = page
        .lines()
        .filter_map(|l| {
            let file = l.strip_prefix("| [")?.split(']').next()?.to_string();
            let n = l.split('|').nth(2)?.trim().parse().ok()?;
            Some((file, n))
        })
        .collect();
    let (mut found, total) = reading_path(&["hello"], b"");
    let mut sorted = listed.clone();
    sorted.sort();
    found.sort();
    assert_eq!(
        sorted, found,
        "docs/reading-order.md's table is the hello path, with its code lines"
    );
    let stated = format!("| **total** | **{total}** | **{} files** |", found.len());
    assert!(page.contains(&stated), "the page's total row should read: {stated}");
    assert!(
        total <= 2000 && found.len() <= 16,
        "the core's budget: {total} lines in {} files",
        found.len()
    );
    let (os_files, os_total) = reading_path(&["os-1k"], b"0\n");
    let disk: usize = os_files.iter().filter(|(f, _)| disk_layer(f)).map(|(_, n)| n).sum();
    let stated = format!(
        "runs {} files, {os_total} code lines, {} of them without its disk layer",
        os_files.len(),
        os_total - disk
    );
    assert!(
        page.replace('\n', " ").contains(&stated),
        "the page should say the 1K OS's run {stated}"
    );
    assert!(os_total - disk <= 3500, "printf '0\\n' | mini-kvm os-1k: {os_total} lines, {disk} of them the disk's: budget 3,500 without it");
    assert!(os_total <= 5200, "printf '0\\n' | mini-kvm os-1k: {os_total} lines, budget 5,200");
}
