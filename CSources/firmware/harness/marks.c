/* SPDX-License-Identifier: Apache-2.0 */
#include "marks.h"

volatile int32_t capsnet_current_mark;

void capsnet_marks_report(void) {}

/* Distinct bodies, so that no linker folds two markers into one address. */
#define MARK(k) \
    __attribute__((noinline, used)) void capsnet_mark_##k(void); \
    __attribute__((noinline, used)) void capsnet_mark_##k(void) { capsnet_current_mark = k; }

MARK(0) MARK(1) MARK(2) MARK(3) MARK(4) MARK(5) MARK(6) MARK(7)
MARK(8) MARK(9) MARK(10) MARK(11) MARK(12) MARK(13) MARK(14) MARK(15)

void capsnet_mark(int32_t index)
{
    switch (index) {
    case 0: capsnet_mark_0(); break;
    case 1: capsnet_mark_1(); break;
    case 2: capsnet_mark_2(); break;
    case 3: capsnet_mark_3(); break;
    case 4: capsnet_mark_4(); break;
    case 5: capsnet_mark_5(); break;
    case 6: capsnet_mark_6(); break;
    case 7: capsnet_mark_7(); break;
    case 8: capsnet_mark_8(); break;
    case 9: capsnet_mark_9(); break;
    case 10: capsnet_mark_10(); break;
    case 11: capsnet_mark_11(); break;
    case 12: capsnet_mark_12(); break;
    case 13: capsnet_mark_13(); break;
    case 14: capsnet_mark_14(); break;
    default: capsnet_mark_15(); break;
    }
}

/* The routing kernels' phases (CAPSNET_PHASE_* in capsnet_support.h). */
void capsnet_profile_phase(int32_t phase);

volatile int32_t capsnet_current_phase;

#define PHASE(p) \
    __attribute__((noinline, used)) void capsnet_phase_##p(void); \
    __attribute__((noinline, used)) void capsnet_phase_##p(void) { capsnet_current_phase = p; }

PHASE(0) PHASE(1) PHASE(2) PHASE(3) PHASE(4) PHASE(5)

void capsnet_profile_phase(int32_t phase)
{
    switch (phase) {
    case 1: capsnet_phase_1(); break;
    case 2: capsnet_phase_2(); break;
    case 3: capsnet_phase_3(); break;
    case 4: capsnet_phase_4(); break;
    case 5: capsnet_phase_5(); break;
    default: capsnet_phase_0(); break;
    }
}
