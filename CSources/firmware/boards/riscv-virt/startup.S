/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal start for QEMU's RISC-V virt board (no firmware, -bios none): stack and global pointer,
 * .bss zeroed, the vector unit enabled where the core has one, then main(); its return value
 * leaves through semihosting as the exit code.
 */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, __stack_top
#if defined(__riscv_vector)
    li t0, 0x200            /* mstatus.VS = initial */
    csrs mstatus, t0
#endif
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
2:  call main
    call riscv_exit
3:  j 3b
