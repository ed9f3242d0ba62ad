//! How the 1K OS is built: a Rust module that the top-level build.rs includes, so one
//! `cargo build` produces the OS too. It runs gcc, ld and objcopy, and packs the file system
//! (a ustar archive: the text files in `files/` and the user programs) itself.
//!
//! Outputs, in `out_dir`:
//! * `os-1k.elf`: the kernel as linked, ELF64 with symbols, for gdb (`break kernel_main`);
//! * `os-1k`: the boot image: the same kernel as a flat binary from its load address (1 MiB), its
//!   Multiboot header giving the addresses (QEMU's `-kernel` takes it too); mini-kvm embeds it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The user programs: every `user/NAME.c` but the library is a program, linked with crt0 and
/// ulib into `/NAME` in the archive (so a new program is just a new file), the shell first.
fn programs(user: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = fs::read_dir(user)
        .map_err(|e| format!("reading {}: {e}", user.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|name| name != "ulib")
        .collect();
    names.sort_by_key(|name| (name != "shell", name.clone()));
    Ok(names)
}
const KERNEL_SOURCES: &[&str] = &[
    "boot.S",
    "entry.S",
    "main.c",
    "console.c",
    "printk.c",
    "mm.c",
    "trap.c",
    "proc.c",
    "syscall.c",
    "fs.c",
    "lib.c",
];
const COMMON_FLAGS: &[&str] = &[
    "-std=gnu11",
    "-ffreestanding",
    "-fno-stack-protector",
    "-fno-pic",
    "-fno-pie",
    "-fno-builtin",
    "-fno-asynchronous-unwind-tables",
    "-mgeneral-regs-only",
    // -Og: gdb shows arguments and most locals (`info args`, `info locals`), where -O2 left
    // nearly all of them <optimized out>; the boot to the first prompt is as fast within the
    // noise of a shared host (the kernel's few hot loops are rep stos/movs in lib.c).
    "-Og",
    "-Wall",
    "-Wextra",
    "-Werror",
    // Every function another file calls is declared in a header (kernel.h, lib.h, ulib.h),
    // as in xv6: a definition with no prototype in sight is an error.
    "-Wmissing-prototypes",
    "-Wstrict-prototypes",
];

pub struct Os1k {
    pub image: PathBuf,
    pub debug_elf: PathBuf,
}

fn run(tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let package = match tool {
        "ld" | "objcopy" => "binutils",
        other => other,
    };
    let output = Command::new(tool).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("the 1K OS needs {tool}: apt-get install {package}")
        } else {
            format!("running {tool}: {e}")
        }
    })?;
    if !output.status.success() {
        return Err(format!(
            "{tool} failed building the 1K OS:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// gcc -c SOURCE -o OBJECT with the common flags plus `extra`.
fn compile(source: &Path, object: &Path, extra: &[&str]) -> Result<(), String> {
    let mut args: Vec<&std::ffi::OsStr> = COMMON_FLAGS.iter().map(|f| os(f)).collect();
    args.extend(extra.iter().map(|f| os(f)));
    args.extend([os("-c"), source.as_os_str(), os("-o"), object.as_os_str()]);
    run("gcc", &args)
}

/// ld with the flags both the kernel and the programs use: 64-bit, no libraries, pages of
/// 4 KiB (small files), no executable stack, linker script `script`.
fn link(script: &Path, objects: &[&Path], output: &Path, extra: &[&str]) -> Result<(), String> {
    let mut args: Vec<&std::ffi::OsStr> =
        ["-m", "elf_x86_64", "-nostdlib", "-z", "max-page-size=4096", "-z", "noexecstack"]
            .iter()
            .chain(extra)
            .map(|f| os(f))
            .collect();
    args.extend([os("-T"), script.as_os_str(), os("-o"), output.as_os_str()]);
    args.extend(objects.iter().map(|o| o.as_os_str()));
    run("ld", &args)
}

/// One ustar header block (POSIX pax "ustar" format) for a regular file.
pub fn ustar_header(name: &str, size: usize) -> Result<[u8; 512], String> {
    if name.len() >= 100 {
        return Err(format!("archive name too long: {name}"));
    }
    let mut h = [0u8; 512];
    let field = |h: &mut [u8; 512], at: usize, text: &str| {
        h[at..at + text.len()].copy_from_slice(text.as_bytes());
    };
    field(&mut h, 0, name);
    field(&mut h, 100, "0000644");
    field(&mut h, 108, "0000000");
    field(&mut h, 116, "0000000");
    field(&mut h, 124, &format!("{size:011o}"));
    field(&mut h, 136, "00000000000");
    h[156] = b'0';
    field(&mut h, 257, "ustar");
    field(&mut h, 263, "00");
    // The checksum is computed with its own field as eight spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    field(&mut h, 148, &format!("{sum:06o}\0 "));
    Ok(h)
}

/// A ustar archive of `(name, bytes)` files.
pub fn ustar(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut tar = Vec::new();
    for (name, data) in files {
        tar.extend_from_slice(&ustar_header(name, data.len())?);
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0); // two zero blocks end the archive
    Ok(tar)
}

pub fn build(src: &Path, out: &Path) -> Result<Os1k, String> {
    let build = out.join("os-1k-build");
    fs::create_dir_all(&build).map_err(|e| format!("creating {}: {e}", build.display()))?;
    for entry in [".", "user", "files"] {
        println!("cargo:rerun-if-changed={}", src.join(entry).display());
    }

    // User programs.
    let user = src.join("user");
    let include = format!("-I{}", user.display());
    let crt0 = build.join("crt0.o");
    let ulib = build.join("ulib.o");
    compile(&user.join("crt0.S"), &crt0, &[])?;
    compile(&user.join("ulib.c"), &ulib, &[&include])?;
    // lib.c is shared: compiled once for the programs and once (below) for the kernel.
    let lib = build.join("lib.o");
    compile(&src.join("lib.c"), &lib, &[])?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut texts: Vec<PathBuf> = fs::read_dir(src.join("files"))
        .map_err(|e| format!("reading os-1k/files: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    texts.sort();
    for path in texts {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let data = fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        files.push((name, data));
    }
    for program in programs(&user)? {
        let object = build.join(format!("{program}.o"));
        let exe = build.join(&program);
        compile(&user.join(format!("{program}.c")), &object, &[&include])?;
        link(&user.join("user.ld"), &[&crt0, &ulib, &lib, &object], &exe, &["-static", "-s"])?;
        let data = fs::read(&exe).map_err(|e| format!("reading {}: {e}", exe.display()))?;
        files.push((program, data));
    }
    let tar = build.join("fs.tar");
    fs::write(&tar, ustar(&files)?).map_err(|e| format!("writing fs.tar: {e}"))?;
    let archive_s = build.join("fs_archive.S");
    fs::write(
        &archive_s,
        format!(
            "/* Generated by os-1k/build.rs: the file system, linked into the kernel. */\n\
             .section .rodata\n.balign 512\n.global fs_archive, fs_archive_end\n\
             fs_archive:\n.incbin \"{}\"\nfs_archive_end:\n",
            tar.display()
        ),
    )
    .map_err(|e| format!("writing fs_archive.S: {e}"))?;

    // The kernel.
    let kernel_flags = ["-mno-red-zone", "-mcmodel=kernel", "-g", &include];
    let mut objects = Vec::new();
    for source in KERNEL_SOURCES.iter().map(|s| src.join(s)).chain([archive_s]) {
        let stem = source.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let object = build.join(format!("k-{stem}.o"));
        compile(&source, &object, &kernel_flags)?;
        objects.push(object);
    }
    let debug_elf = out.join("os-1k.elf");
    let objects: Vec<&Path> = objects.iter().map(|o| o.as_path()).collect();
    link(&src.join("kernel.ld"), &objects, &debug_elf, &[])?;
    let image = out.join("os-1k");
    run("objcopy", &[os("-O"), os("binary"), debug_elf.as_os_str(), image.as_os_str()])?;
    Ok(Os1k { image, debug_elf })
}
