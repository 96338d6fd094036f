/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Start of every core of the CV32E40P testbench: global pointer, its own stack (64 KiB below
 * the previous core's), counters running (mcountinhibit resets to all ones), a trap handler;
 * core 0 zeroes .bss while the others wait at the barrier register; then main() on every core.
 * Core 0's return value from main leaves through the exit register; the other cores, once back
 * from main, sleep (WFI with no interrupt enabled: for good).
 */
#include "registers.h"

    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    csrw 0x320, zero        /* mcountinhibit: mcycle and minstret count */
    la t0, cv32e40p_trap
    csrw mtvec, t0
    csrr t1, mhartid
    la sp, __stack_top
    la t0, __stack_size
    mul t0, t0, t1
    sub sp, sp, t0
    bnez t1, 3f
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 3f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b
3:  li t0, CV32E40P_BARRIER_ADDRESS
    lw zero, 0(t0)
    call main
    csrr t1, mhartid
    bnez t1, 4f
    li t0, CV32E40P_EXIT_ADDRESS
    sw a0, 0(t0)
4:  wfi
    j 4b

/* Any exception (an illegal instruction, a misaligned jump, ebreak): exit with status 103 after
 * printing the cause and the instruction's address (board.c). mtvec needs 256-byte alignment. */
    .text
    .balign 256
cv32e40p_trap:
    csrr t1, mhartid        /* this core's own stack, as at _start */
    la sp, __stack_top
    la t0, __stack_size
    mul t0, t0, t1
    sub sp, sp, t0
    csrr a0, mcause
    csrr a1, mepc
    call cv32e40p_report_trap
5:  j 5b
