//! The disk's bytes: the in-memory disk (the built-in 1K OS image, zeros past its embedded
//! bytes, copied at its first write) and the image file (pread, pwrite, fdatasync). No KVM.

use super::*;
use crate::virtio::blk::SECTOR_SIZE;
use crate::virtio::image::{check_format, FS_MAGIC};

#[test]
fn the_built_in_image_is_a_1k_os_disk_of_whole_sectors() {
    assert_eq!(check_format(OS_1K_DISK), Ok(()));
    assert_eq!(OS_1K_DISK.len() as u64 % SECTOR_SIZE, 0);
    assert_eq!(OS_1K_DISK_LEN, 4 << 20, "fs.h: FS_BLOCKS blocks of FS_BLOCK_SIZE");
    let full = std::fs::read(env!("MINI_KVM_OS_1K_DISK")).unwrap();
    assert_eq!(full.len() as u64, OS_1K_DISK_LEN);
    assert_eq!(full[..OS_1K_DISK.len()], *OS_1K_DISK);
    assert!(full[OS_1K_DISK.len()..].iter().all(|&b| b == 0), "only zeros are left out");
    let image = in_memory();
    assert_eq!((image.len, image.read_only), (OS_1K_DISK_LEN, false));
}

#[test]
fn memory_writes_stay_in_the_copy_and_in_bounds() {
    let mut disk = in_memory().backend;
    let mut buf = [0u8; 8];
    disk.read_at(0, &mut buf).unwrap();
    assert_eq!(buf[..4], FS_MAGIC.to_le_bytes());
    disk.write_at(8, b"written!").unwrap();
    disk.read_at(8, &mut buf).unwrap();
    assert_eq!(&buf, b"written!");
    assert_ne!(&OS_1K_DISK[8..16], b"written!", "the built-in image is never written");
    let mut last = [1u8; 512];
    disk.read_at(OS_1K_DISK_LEN - 512, &mut last).unwrap();
    assert_eq!(last, [0u8; 512], "the zeros the embedded image leaves out");
    disk.write_at(OS_1K_DISK_LEN - 8, &buf).unwrap();
    assert!(disk.write_at(OS_1K_DISK_LEN - 4, &buf).is_err());
    assert!(disk.read_at(u64::MAX - 2, &mut buf).is_err());
    assert!(disk.flush().is_ok());
}

#[test]
fn the_image_file_backend_reads_writes_and_syncs() {
    let path = std::env::temp_dir().join(format!("mini-kvm-blk-test-{}", std::process::id()));
    let image: Vec<u8> = (0..4 * 512).map(|i| (i / 512) as u8 + 1).collect();
    std::fs::write(&path, &image).unwrap();
    let mut file =
        Backend::File(std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap());
    let mut buf = [0u8; 512];
    file.read_at(512, &mut buf).unwrap();
    assert_eq!(buf[..], image[512..1024]);
    file.write_at(1024, &[7; 512]).unwrap();
    file.flush().unwrap();
    assert!(file.read_at(4 * 512 - 1, &mut buf).is_err(), "past the end");
    drop(file);
    let back = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back[1024..1536], [7; 512]);
    assert_eq!(back.len(), 4 * 512);
}
