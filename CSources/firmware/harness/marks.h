/* SPDX-License-Identifier: Apache-2.0 */
/* Layer markers for instruction counting: the exported model calls capsnet_mark(k) before layer k
 * (and after the last) when built with -DCAPSNET_PROFILE_MARKS. Each k
 * enters its own function, capsnet_mark_<k>, whose address the QEMU counting plugin watches.
 * Built with -DCAPSNET_PROFILE_PHASES too, the routing kernels call capsnet_profile_phase(p) as they
 * enter each phase p (capsnet_support.h); it enters capsnet_phase_<p>, which the plugin watches too
 * and counts as phase p of the current layer. */
#ifndef CAPSNET_MARKS_H
#define CAPSNET_MARKS_H

#include <stdint.h>

void capsnet_mark(int32_t index);

/* Prints the counts where the board counts for itself (boards/cv32e40p/counters.c: mcycle and
 * minstret); under the QEMU plugin, which writes its own file, it prints nothing. */
void capsnet_marks_report(void);

#endif
