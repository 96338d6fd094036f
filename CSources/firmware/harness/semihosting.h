/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Semihosting, the debugger channel QEMU implements: text to the host's console and an exit code
 * back to the shell, with no C library and no UART driver. The CV32E40P testbench has no debugger:
 * there the same two calls write its console and exit registers.
 */
#ifndef CAPSNET_SEMIHOSTING_H
#define CAPSNET_SEMIHOSTING_H

#include <stdint.h>

#if defined(__linux__)
/* A Linux user-mode target (QEMU's qemu-aarch64): the same three calls through the C library. */
#include <stdlib.h>
#include <unistd.h>

static inline void semihosting_print(const char *text)
{
    size_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    if (write(1, text, length) < 0) {
        exit(101);
    }
}

static inline void semihosting_exit(int32_t code) { exit(code); }
#elif defined(CAPSNET_BOARD_CV32E40P)
#include "registers.h" /* CSources/firmware/boards/cv32e40p */

static inline void semihosting_print(const char *text)
{
    while (*text != '\0') {
        *(volatile uint32_t *)CV32E40P_CONSOLE_ADDRESS = (uint8_t)*text++;
    }
}

static inline void semihosting_exit(int32_t code)
{
    *(volatile uint32_t *)CV32E40P_EXIT_ADDRESS = (uint32_t)code;
    for (;;) {
    }
}
#else
#define SEMIHOSTING_SYS_WRITE0 0x04
#define SEMIHOSTING_SYS_EXIT_EXTENDED 0x20
#define SEMIHOSTING_APPLICATION_EXIT 0x20026

static inline long semihosting_call(long operation, const void *argument)
{
#if defined(__arm__)
    register long r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
#elif defined(__riscv)
    register long a0 __asm__("a0") = operation;
    register const void *a1 __asm__("a1") = argument;
    /* The RISC-V semihosting trap: ebreak between these two no-op shifts, kept uncompressed. */
    __asm__ volatile(".option push\n .option norvc\n slli x0, x0, 0x1f\n ebreak\n srai x0, x0, 7\n .option pop"
                     : "+r"(a0)
                     : "r"(a1)
                     : "memory");
    return a0;
#else
#error "semihosting: unsupported architecture"
#endif
}

static inline void semihosting_print(const char *text) { (void)semihosting_call(SEMIHOSTING_SYS_WRITE0, text); }

static inline void semihosting_exit(int32_t code)
{
    const long block[2] = {SEMIHOSTING_APPLICATION_EXIT, code};
    (void)semihosting_call(SEMIHOSTING_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}
#endif

static inline void semihosting_print_int(int32_t value)
{
    char digits[12];
    int position = 11;
    uint32_t magnitude = value < 0 ? 0u - (uint32_t)value : (uint32_t)value;
    digits[position] = '\0';
    do {
        digits[--position] = (char)('0' + magnitude % 10u);
        magnitude /= 10u;
    } while (magnitude != 0u);
    if (value < 0) {
        digits[--position] = '-';
    }
    semihosting_print(&digits[position]);
}

#endif
