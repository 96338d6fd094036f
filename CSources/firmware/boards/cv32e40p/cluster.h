/* SPDX-License-Identifier: Apache-2.0 */
/* The CV32E40P testbench as a cluster (testbench.cpp): each core's id, the team's size, and the
 * barrier register, whose load returns once every core has made it. */
#ifndef CAPSNET_CV32E40P_CLUSTER_H
#define CAPSNET_CV32E40P_CLUSTER_H

#include <stdint.h>

#include "registers.h"

static inline int32_t cluster_core_id(void)
{
    uint32_t id;
    __asm__ volatile("csrr %0, mhartid" : "=r"(id));
    return (int32_t)id;
}

static inline int32_t cluster_cores(void) { return (int32_t) * (volatile uint32_t *)CV32E40P_CORES_ADDRESS; }

/* The memory clobbers keep the compiler from moving the arena's loads and stores across it. */
static inline void cluster_barrier(void *unused)
{
    (void)unused;
    __asm__ volatile("" ::: "memory");
    (void)*(volatile uint32_t *)CV32E40P_BARRIER_ADDRESS;
    __asm__ volatile("" ::: "memory");
}

#endif
