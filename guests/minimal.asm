; minimal: one HLT instruction, the smallest guest there is; prints nothing.
; mode: real
;
; What it teaches: a VM needs no firmware and no OS. mini-kvm loads this single byte (0xF4) at
; guest-physical 0, points CS:IP at it in real mode, and calls KVM_RUN. The CPU executes `hlt`;
; with no interrupt controller to wake it, KVM returns to mini-kvm with KVM_EXIT_HLT, and the
; vCPU is done. Run it with `mini-kvm -v --trace minimal` to see the ioctls and the one exit.
bits 16
org 0
    hlt
