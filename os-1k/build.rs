//! How the 1K OS is built: a Rust module that the top-level build.rs includes, so one
//! `cargo build` produces the OS too. It runs gcc, ld and objcopy, and makes the disk image
//! (the text files in `files/` and the user programs, laid out as `fs.h` says) itself.
//!
//! Outputs, in `out_dir`:
//! * `os-1k.img`: the disk image, 4 MiB, what a new disk starts as; the kernel links in the
//!   same image up to the zeros it ends with (its read-only disk when no other is given);
//! * `os-1k.elf`: the kernel as linked, ELF64 with symbols, for gdb (`break kernel_main`);
//! * `os-1k`: the boot image: the same kernel as a flat binary from its load address (1 MiB), its
//!   Multiboot header giving the addresses (QEMU's `-kernel` takes it too); mini-kvm embeds it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The user library: linked into every program, which keeps only what it calls
/// (`--gc-sections`): ulib.c (system calls, printf, lines) and edit.c (the shell's line editor).
const USER_LIBRARY: &[&str] = &["ulib", "edit"];

/// The user programs: every other `user/NAME.c` is a program, linked with crt0 and the library
/// into the file `NAME` on the disk (so a new program is just a new file), the shell first.
fn programs(user: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = fs::read_dir(user)
        .map_err(|e| format!("reading {}: {e}", user.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|name| !USER_LIBRARY.contains(&name.as_str()))
        .collect();
    names.sort_by_key(|name| (name != "shell", name.clone()));
    Ok(names)
}
const KERNEL_SOURCES: &[&str] = &[
    "boot.S",
    "entry.S",
    "trampoline.S",
    "main.c",
    "console.c",
    "printk.c",
    "mm.c",
    "trap.c",
    "proc.c",
    "spinlock.c",
    "mp.c",
    "apic.c",
    "exec.c",
    "syscall.c",
    "file.c",
    "pipe.c",
    "block.c",
    "virtio.c",
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
    pub disk: PathBuf,
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

/// The numbers of the on-disk layout, read from `fs.h` (its `#define NAME number` lines), so
/// that the header stays the one place they are written down.
struct Layout {
    magic: u32,
    version: u32,
    sector_size: usize,
    block_size: usize,
    blocks: usize,
    inode_start: usize,
    inodes: usize,
    data_start: usize,
    name_max: usize,
    direct: usize,
}

fn layout(fs_h: &Path) -> Result<Layout, String> {
    let text = fs::read_to_string(fs_h).map_err(|e| format!("reading {}: {e}", fs_h.display()))?;
    let define = |name: &str| -> Result<u64, String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("#define "))
            .filter_map(|l| l.split_once(char::is_whitespace))
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| {
                let v = v.split("/*").next().unwrap_or("").trim();
                match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).ok(),
                    None => v.parse().ok(),
                }
            })
            .ok_or_else(|| format!("{}: no `#define {name} <number>`", fs_h.display()))
    };
    let size = |name: &str| define(name).map(|v| v as usize);
    Ok(Layout {
        magic: define("FS_MAGIC")? as u32,
        version: define("FS_VERSION")? as u32,
        sector_size: size("FS_SECTOR_SIZE")?,
        block_size: size("FS_BLOCK_SIZE")?,
        blocks: size("FS_BLOCKS")?,
        inode_start: size("FS_INODE_START")?,
        inodes: size("FS_INODES")?,
        data_start: size("FS_DATA_START")?,
        name_max: size("FS_NAME_MAX")?,
        direct: size("FS_DIRECT")?,
    })
}

/// The disk image of `files`, as fs.h lays it out: the superblock, one inode per file (in
/// this order), each file's data in consecutive blocks. Returns the whole image and how many
/// of its bytes are not the zeros it ends with (what the kernel links in).
fn disk_image(l: &Layout, files: &[(String, Vec<u8>)]) -> Result<(Vec<u8>, usize), String> {
    let mut disk = vec![0u8; l.blocks * l.block_size];
    let put = |disk: &mut [u8], at: usize, v: u32| {
        disk[at..at + 4].copy_from_slice(&v.to_le_bytes());
    };
    let sectors = (l.blocks * l.block_size / l.sector_size) as u32;
    for (i, v) in [
        l.magic,
        l.version,
        sectors,
        l.block_size as u32,
        l.blocks as u32,
        l.inode_start as u32,
        l.inodes as u32,
        l.data_start as u32,
    ]
    .into_iter()
    .enumerate()
    {
        put(&mut disk, 4 * i, v);
    }
    if files.len() > l.inodes {
        return Err(format!("the 1K OS disk holds {} files, not {}", l.inodes, files.len()));
    }
    let mut next = l.data_start;
    for (i, (name, data)) in files.iter().enumerate() {
        let inode = l.inode_start * l.block_size + i * l.sector_size;
        let nblocks = data.len().div_ceil(l.block_size);
        if name.is_empty() || name.len() >= l.name_max || name.contains('/') {
            return Err(format!(
                "{name:?}: a 1K OS file name has 1 to {} bytes and no /",
                l.name_max - 1
            ));
        }
        if nblocks > l.direct || next + nblocks > l.blocks {
            return Err(format!("{name}: too large for the 1K OS disk"));
        }
        disk[inode..inode + name.len()].copy_from_slice(name.as_bytes());
        put(&mut disk, inode + l.name_max, data.len() as u32);
        for b in 0..nblocks {
            put(&mut disk, inode + l.name_max + 4 + 4 * b, (next + b) as u32);
        }
        let at = next * l.block_size;
        disk[at..at + data.len()].copy_from_slice(data);
        next += nblocks;
    }
    Ok((disk, next * l.block_size))
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
    // Each function and object in a section of its own, so that the link keeps only those a
    // program uses (`--gc-sections`).
    let user_flags = [include.as_str(), "-ffunction-sections", "-fdata-sections"];
    let crt0 = build.join("crt0.o");
    compile(&user.join("crt0.S"), &crt0, &[])?;
    let mut library = vec![crt0];
    for name in USER_LIBRARY {
        let object = build.join(format!("{name}.o"));
        compile(&user.join(format!("{name}.c")), &object, &user_flags)?;
        library.push(object);
    }
    // lib.c is shared: compiled once for the programs and once (below) for the kernel.
    let lib = build.join("lib.o");
    compile(&src.join("lib.c"), &lib, &user_flags)?;
    library.push(lib);
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
        compile(&user.join(format!("{program}.c")), &object, &user_flags)?;
        let mut objects: Vec<&Path> = library.iter().map(|o| o.as_path()).collect();
        objects.push(&object);
        // -n: sections packed in the file, not each at a page boundary (the loader reads
        // them wherever they are): a program takes one 4 KiB block less on the disk.
        link(&user.join("user.ld"), &objects, &exe, &["-static", "-s", "-n", "--gc-sections"])?;
        let data = fs::read(&exe).map_err(|e| format!("reading {}: {e}", exe.display()))?;
        files.push((program, data));
    }
    let layout = layout(&src.join("fs.h"))?;
    let (disk, used) = disk_image(&layout, &files)?;
    let disk_path = out.join("os-1k.img");
    fs::write(&disk_path, &disk).map_err(|e| format!("writing {}: {e}", disk_path.display()))?;
    let image_s = build.join("fs_image.S");
    fs::write(
        &image_s,
        format!(
            "/* Generated by os-1k/build.rs: the disk image, linked into the kernel up to the \
             zeros it ends with. */\n\
             .section .rodata\n.balign 4096\n.global fs_image, fs_image_end\n\
             fs_image:\n.incbin \"{}\", 0, {used}\nfs_image_end:\n",
            disk_path.display()
        ),
    )
    .map_err(|e| format!("writing fs_image.S: {e}"))?;

    // The kernel.
    let kernel_flags = ["-mno-red-zone", "-mcmodel=kernel", "-g", &include];
    let mut objects = Vec::new();
    for source in KERNEL_SOURCES.iter().map(|s| src.join(s)).chain([image_s]) {
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
    Ok(Os1k { image, debug_elf, disk: disk_path })
}
