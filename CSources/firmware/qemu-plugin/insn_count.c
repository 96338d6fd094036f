/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A QEMU TCG plugin that counts executed guest instructions per region of a program. The regions
 * are delimited by marker functions: the plugin is given their entry addresses in order
 * (marks=ADDR0:ADDR1:...), and every instruction executed after the program enters marker k, and
 * before it enters another, counts for region k. Instructions before the first marker are not
 * counted. At exit it writes "region <k> <count>" lines to the file named by out=PATH.
 *
 * Phase markers (phases=ADDR0:ADDR1:...) split a region further: entering phase marker p counts what
 * follows as phase p of the current region, until the next marker of either kind; a region marker
 * starts at phase 0. Each region with any phase counted also gets "phase <k> <p> <count>" lines.
 *
 * With blocks=PATH it also writes, for every translated block that ran, "<start address> <instructions>
 * <executions>" (one line per start address), to find where a region's instructions go.
 *
 * These are instruction counts from QEMU's translation, exact and repeatable; they are not cycles.
 * Built with plain gcc against the declarations below (QEMU 7.2's plugin API, version 1), since
 * Debian does not package qemu-plugin.h.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The parts of QEMU's plugin API this plugin uses (QEMU_PLUGIN_VERSION 1). ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
__attribute__((visibility("default"))) extern int qemu_plugin_version;
__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv);
/* ---- */

int qemu_plugin_version = 1;

enum { MAX_MARKS = 64, MAX_PHASES = 16 };
static uint64_t marks[MAX_MARKS];
static int mark_count;
static uint64_t phase_marks[MAX_PHASES];
static int phase_count;
static uint64_t counts[MAX_MARKS][MAX_PHASES];
static int phases_seen[MAX_MARKS];
static int current = -1;
static int current_phase;
static char output_path[512];

/* A translated block's data: its length, and the marker it starts, if any (-1), of either kind. */
struct block {
    uint64_t start;
    uint64_t executions;
    uint32_t instructions;
    int32_t mark;
    int32_t phase;
    struct block *next_translated;
};
static struct block *translated;
static char blocks_path[512];

static void on_block(unsigned int vcpu, void *userdata)
{
    struct block *block = userdata;
    (void)vcpu;
    block->executions++;
    if (block->mark >= 0) {
        current = block->mark;
        current_phase = 0;
    }
    if (current >= 0) {
        if (block->phase >= 0) {
            current_phase = block->phase;
            phases_seen[current] = 1;
        }
        counts[current][current_phase] += block->instructions;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    struct block *block = malloc(sizeof *block); /* lives as long as QEMU's translation */
    if (block == NULL) {
        return;
    }
    const uint64_t start = qemu_plugin_tb_vaddr(tb);
    block->start = start;
    block->executions = 0;
    block->instructions = (uint32_t)qemu_plugin_tb_n_insns(tb);
    block->mark = -1;
    block->phase = -1;
    block->next_translated = translated;
    translated = block;
    for (int k = 0; k < mark_count; k++) {
        if (marks[k] == start) {
            block->mark = k;
        }
    }
    for (int p = 0; p < phase_count; p++) {
        if (phase_marks[p] == start) {
            block->phase = p;
        }
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, block);
}

static void on_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *file = fopen(output_path, "w");
    if (file == NULL) {
        return;
    }
    for (int k = 0; k < mark_count; k++) {
        uint64_t total = 0;
        for (int p = 0; p < MAX_PHASES; p++) {
            total += counts[k][p];
        }
        fprintf(file, "region %d %" PRIu64 "\n", k, total);
        for (int p = 0; p < phase_count && phases_seen[k]; p++) {
            fprintf(file, "phase %d %d %" PRIu64 "\n", k, p, counts[k][p]);
        }
    }
    fclose(file);
    if (blocks_path[0] != '\0' && (file = fopen(blocks_path, "w")) != NULL) {
        /* A block translated again (same start, maybe another length) gets a line per length. */
        for (const struct block *block = translated; block != NULL; block = block->next_translated) {
            if (block->executions > 0) {
                fprintf(file, "%" PRIx64 " %" PRIu32 " %" PRIu64 "\n", block->start, block->instructions,
                        block->executions);
            }
        }
        fclose(file);
    }
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int k = 0; k < argc; k++) {
        if (strncmp(argv[k], "marks=", 6) == 0) {
            for (char *item = strtok(argv[k] + 6, ":"); item != NULL && mark_count < MAX_MARKS;
                 item = strtok(NULL, ":")) {
                marks[mark_count++] = strtoull(item, NULL, 16);
            }
        } else if (strncmp(argv[k], "phases=", 7) == 0) {
            for (char *item = strtok(argv[k] + 7, ":"); item != NULL && phase_count < MAX_PHASES;
                 item = strtok(NULL, ":")) {
                phase_marks[phase_count++] = strtoull(item, NULL, 16);
            }
        } else if (strncmp(argv[k], "blocks=", 7) == 0) {
            snprintf(blocks_path, sizeof blocks_path, "%s", argv[k] + 7);
        } else if (strncmp(argv[k], "out=", 4) == 0) {
            snprintf(output_path, sizeof output_path, "%s", argv[k] + 4);
        }
    }
    if (mark_count == 0 || output_path[0] == '\0') {
        fprintf(stderr, "insn_count: give marks=ADDR0:ADDR1:... and out=PATH\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
