/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The exported model's entry point as the harnesses call it: NAME_run on one core, or, on a
 * cluster board (-DCAPSNET_CLUSTER, whose cluster.h gives each core's id, the team's size and a
 * barrier), NAME_run_split on every core at once. Core 0 gets the output and reports.
 */
#ifndef CAPSNET_MODEL_RUN_H
#define CAPSNET_MODEL_RUN_H

#include <stdint.h>

#include CAPSNET_TEST_DATA

#define CAPSNET_CONCAT2(a, b) a##b
#define CAPSNET_CONCAT(a, b) CAPSNET_CONCAT2(a, b)
#define MODEL_INPUTS CAPSNET_CONCAT(CAPSNET_MODEL, _test_inputs)
#define MODEL_EXPECTED CAPSNET_CONCAT(CAPSNET_MODEL, _test_expected)

static uint64_t arena_storage[(CAPSNET_TEST_ARENA_SIZE + 7) / 8];

#if defined(CAPSNET_CLUSTER)
#include "cluster.h"

static inline int32_t harness_main_core(void) { return cluster_core_id() == 0; }

#define HARNESS_ERROR_HINT " (on a cluster: was the model exported with --cores as many as the cluster's?)"

static inline capsnet_status harness_run(const int8_t *input, int8_t *output)
{
    const capsnet_core_split split = {cluster_core_id(), cluster_cores(), cluster_barrier, 0};
    return CAPSNET_CONCAT(CAPSNET_MODEL, _run_split)(input, output, arena_storage, &split);
}
#else
static inline int32_t harness_main_core(void) { return 1; }

#define HARNESS_ERROR_HINT ""

static inline capsnet_status harness_run(const int8_t *input, int8_t *output)
{
    return CAPSNET_CONCAT(CAPSNET_MODEL, _run)(input, output, arena_storage);
}
#endif

#endif
