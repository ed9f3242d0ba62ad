; matrix: multiplies two 8x8 matrices and prints C[0][0] = 162 and C[7][7] = 198.
; mode: real
;
; What it teaches: a compute-bound guest: thousands of instructions (loads, `mul`, adds) run
; between the few exits that print the result, so the run time is the CPU's (or on an emulating
; KVM, the emulator's), not the VMM's. The matrices are A[i][j] = (i + j + 1) mod 10 and
; B[i][j] = (2i + 2j + 1) mod 10; C = A x B, 16-bit words in RAM past the code.
; `mul` writes DX as well as AX: nothing kept in DX survives it.
bits 16
org 0
%include "hypercall.inc"

MAT_A equ 0x1000            ; 64 words each, in zeroed RAM after the image
MAT_B equ 0x1080
MAT_C equ 0x1100

start:
    ; A[i][j] and B[i][j], i in CL, j in CH, DI = (i * 8 + j) * 2.
    xor di, di
    mov bl, 10
    xor cl, cl
.init_row:
    xor ch, ch
.init_column:
    mov al, cl
    add al, ch
    inc al                  ; i + j + 1
    xor ah, ah
    div bl                  ; AH = AL mod 10
    mov al, ah
    xor ah, ah
    mov [MAT_A + di], ax
    mov al, cl
    add al, ch
    shl al, 1
    inc al                  ; 2i + 2j + 1
    xor ah, ah
    div bl
    mov al, ah
    xor ah, ah
    mov [MAT_B + di], ax
    add di, 2
    inc ch
    cmp ch, 8
    jne .init_column
    inc cl
    cmp cl, 8
    jne .init_row

    ; C[i][j] = sum over k of A[i][k] * B[k][j]; i in SI, j in DI, k in CX, the sum in BP.
    xor si, si
.row:
    xor di, di
.column:
    xor bp, bp
    xor cx, cx
.term:
    mov bx, si
    shl bx, 3
    add bx, cx
    shl bx, 1
    mov ax, [MAT_A + bx]    ; A[i][k]
    mov bx, cx
    shl bx, 3
    add bx, di
    shl bx, 1
    mul word [MAT_B + bx]   ; DX:AX = A[i][k] * B[k][j]; DX is 0 (products are < 100)
    add bp, ax
    inc cx
    cmp cx, 8
    jne .term
    mov bx, si
    shl bx, 3
    add bx, di
    shl bx, 1
    mov [MAT_C + bx], bp    ; the same (i * 8 + j) * 2 stride as A and B
    inc di
    cmp di, 8
    jne .column
    inc si
    cmp si, 8
    jne .row

    mov si, title
    call puts
    mov si, c00
    call puts
    mov ax, [MAT_C + (0 * 8 + 0) * 2]
    call print_dec
    mov si, c77
    call puts
    mov ax, [MAT_C + (7 * 8 + 7) * 2]
    call print_dec
    mov si, done
    call puts
    hc_exit

; putc: print AL through the PUTCHAR hypercall (keeps every register).
hc_putc_routine

%include "print16.inc"

title: db "Matrix 8x8 multiplication benchmark", 10, 0
c00:   db "C[0][0] = ", 0
c77:   db 10, "C[7][7] = ", 0
done:  db 10, "Matrix multiplication complete!", 10, 0
