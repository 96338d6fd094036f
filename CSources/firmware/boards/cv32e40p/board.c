/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>

#include "semihosting.h"

void cv32e40p_report_trap(uint32_t cause, uint32_t address);

void cv32e40p_report_trap(uint32_t cause, uint32_t address)
{
    static const char hex[] = "0123456789abcdef";
    char text[] = "trap: mcause 0x........ mepc 0x........\n";
    for (int k = 0; k < 8; k++) {
        text[15 + k] = hex[(cause >> (28 - 4 * k)) & 15u];
        text[31 + k] = hex[(address >> (28 - 4 * k)) & 15u];
    }
    semihosting_print(text);
    semihosting_exit(103);
}
