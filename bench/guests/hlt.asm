; hlt: one HLT: the cost of starting a VM and stopping it (start-up row).
bits 16
org 0
    hlt
