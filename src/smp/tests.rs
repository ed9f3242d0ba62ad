//! Unit tests of `--cpus` and the per-vCPU CPUID (the MP table's are in mptable/tests.rs; an
//! AP actually starting is tested by tests/smp.rs on the real binary).

use super::*;
use crate::boot::kernel::set_apic_id;
use crate::cli::{parse, Command};
use crate::kvm::cpuid::{kvm_cpuid_entry2, CpuidTable};

fn cpus(args: &str) -> Result<usize, String> {
    let args: Vec<String> = args.split_whitespace().map(String::from).collect();
    match parse(&args) {
        Ok(Command::Run(config)) => count(&config).map_err(|e| e.to_string()),
        _ => panic!("{args:?} is not a run"),
    }
}

#[test]
fn cpus_are_one_to_eight_and_one_when_not_given() {
    assert_eq!(cpus("k"), Ok(1));
    assert_eq!(cpus("--cpus 2 k"), Ok(2));
    assert_eq!(cpus("--cpus=8 k"), Ok(8));
    for bad in ["0", "9", "x", "-1", "2.5", ""] {
        let text = format!("--cpus={bad} k");
        assert_eq!(cpus(&text), Err(format!("--cpus takes 1 to 8 CPUs, not '{bad}'")));
    }
}

#[test]
fn each_vcpu_s_cpuid_carries_its_apic_id_and_nothing_else_changes() {
    let mut table = CpuidTable {
        header: crate::kvm::cpuid::kvm_cpuid2 { nent: 4, padding: 0 },
        entries: [kvm_cpuid_entry2::default(); crate::kvm::cpuid::KVM_MAX_CPUID_ENTRIES],
    };
    let leaf = |function, index, ebx, edx| kvm_cpuid_entry2 {
        function,
        index,
        ebx,
        edx,
        eax: 7,
        ..Default::default()
    };
    table.entries[0] = leaf(1, 0, 0x0001_0800, 0x178B_FBFF);
    table.entries[1] = leaf(0xB, 0, 1, 0);
    table.entries[2] = leaf(0xB, 1, 2, 0);
    table.entries[3] = leaf(0x8000_001E, 0, 0, 0);
    table.entries[4] = leaf(1, 0, 0, 0); // past nent: not a leaf of the table
    set_apic_id(&mut table, 3);
    assert_eq!(table.entries[0].ebx, 0x0301_0800, "leaf 1 EBX[31:24]");
    assert_eq!(table.entries[0].edx, 0x178B_FBFF);
    assert_eq!((table.entries[1].edx, table.entries[2].edx), (3, 3), "leaf 0xB, every sub-leaf");
    assert_eq!(table.entries[3].eax, 3, "AMD's extended APIC ID");
    assert_eq!(table.entries[4].ebx, 0);
}
