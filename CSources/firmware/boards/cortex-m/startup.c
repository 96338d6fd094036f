/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal Cortex-M startup for QEMU's MPS2/MPS3 boards: the vector table (initial stack and reset
 * handler), .data copied from flash, .bss zeroed, the FPU/MVE coprocessors enabled where the core
 * has them, then main(); its return value leaves through semihosting as the exit code.
 */
#include <stdint.h>

#include "semihosting.h"

extern uint32_t __stack_top;
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);
void reset_handler(void);
void fault_handler(void);

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler,
};

void reset_handler(void)
{
#if defined(CAPSNET_BOARD_HAS_FPU)
    /* CP10 and CP11 full access: the FPU, and Helium on Cortex-M55. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n isb");
#endif
    const uint32_t *source = &__data_load;
    for (uint32_t *target = &__data_start; target < &__data_end;) {
        *target++ = *source++;
    }
    for (uint32_t *target = &__bss_start; target < &__bss_end;) {
        *target++ = 0;
    }
    semihosting_exit(main());
}

void fault_handler(void)
{
    semihosting_print("fault\n");
    semihosting_exit(101);
}
