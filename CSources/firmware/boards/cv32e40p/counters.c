/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The layer and phase markers of harness/marks.h on the CV32E40P, which counts for itself: each
 * marker reads mcycle and minstret and charges what passed since the previous marker to the
 * current layer (and phase), so the counts are the core's own, exact and repeatable. A marker
 * costs a few tens of cycles, charged to the layer (or phase) it starts. On a cluster only core
 * 0 counts: its time in a layer includes waiting at the barrier for the slowest core.
 * capsnet_marks_report() prints "region <k> <instructions> <cycles>" and
 * "phase <k> <p> <instructions> <cycles>", the QEMU plugin's lines with cycles beside.
 */
#include <stdint.h>

#include "cluster.h"
#include "marks.h"
#include "semihosting.h"

#define MAX_REGIONS 64
#define MAX_PHASES 6

typedef struct {
    uint64_t instructions;
    uint64_t cycles;
} counts;

static counts region_counts[MAX_REGIONS][MAX_PHASES];
static int32_t phases_seen[MAX_REGIONS];
static int32_t current_region = -1;
static int32_t current_phase;
static counts last;

void capsnet_profile_phase(int32_t phase);

/* mcycle and minstret, 64 bits each (the high half read twice: it may tick between the reads). */
static counts now(void)
{
    uint32_t high, low, again;
    counts value;
    do {
        __asm__ volatile("csrr %0, mcycleh\n csrr %1, mcycle\n csrr %2, mcycleh" : "=r"(high), "=r"(low), "=r"(again));
    } while (high != again);
    value.cycles = (uint64_t)high << 32 | low;
    do {
        __asm__ volatile("csrr %0, minstreth\n csrr %1, minstret\n csrr %2, minstreth"
                         : "=r"(high), "=r"(low), "=r"(again));
    } while (high != again);
    value.instructions = (uint64_t)high << 32 | low;
    return value;
}

static void charge(int32_t region, int32_t phase)
{
    const counts time = now();
    if (current_region >= 0) {
        counts *slot = &region_counts[current_region][current_phase];
        slot->cycles += time.cycles - last.cycles;
        slot->instructions += time.instructions - last.instructions;
    }
    current_region = region;
    current_phase = phase;
    last = time;
}

void capsnet_mark(int32_t index)
{
    if (cluster_core_id() == 0) {
        charge(index < 0 ? 0 : index >= MAX_REGIONS ? MAX_REGIONS - 1 : index, 0);
    }
}

void capsnet_profile_phase(int32_t phase)
{
    if (cluster_core_id() == 0 && current_region >= 0) {
        phases_seen[current_region] = 1;
        charge(current_region, phase < 0 || phase >= MAX_PHASES ? 0 : phase);
    }
}

static void print_u64(uint64_t value)
{
    char digits[21];
    int position = 20;
    digits[position] = '\0';
    do {
        digits[--position] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    semihosting_print(&digits[position]);
}

void capsnet_marks_report(void)
{
    for (int32_t k = 0; k < MAX_REGIONS; k++) {
        counts total = {0, 0};
        for (int32_t p = 0; p < MAX_PHASES; p++) {
            total.instructions += region_counts[k][p].instructions;
            total.cycles += region_counts[k][p].cycles;
        }
        if (total.cycles == 0) {
            continue;
        }
        semihosting_print("region ");
        semihosting_print_int(k);
        semihosting_print(" ");
        print_u64(total.instructions);
        semihosting_print(" ");
        print_u64(total.cycles);
        semihosting_print("\n");
        for (int32_t p = 0; p < MAX_PHASES && phases_seen[k]; p++) {
            semihosting_print("phase ");
            semihosting_print_int(k);
            semihosting_print(" ");
            semihosting_print_int(p);
            semihosting_print(" ");
            print_u64(region_counts[k][p].instructions);
            semihosting_print(" ");
            print_u64(region_counts[k][p].cycles);
            semihosting_print("\n");
        }
    }
}
