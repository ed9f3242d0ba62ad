; spin: `jmp $` forever, never exiting: only --timeout or a signal stops it.
; mode: real
bits 16
org 0
    jmp $
