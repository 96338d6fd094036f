// SPDX-License-Identifier: Apache-2.0
//
// A cluster of CV32E40P cores (the OpenHW RTL, compiled to C++ by Verilator) around one memory:
//
//   cv32e40p-sim [--cores N] [--max-cycles C] [--stats] PROGRAM.elf
//
// loads PROGRAM's PT_LOAD segments, starts N cores (1 to 8) at its entry point, each with its
// hart id (mhartid) 0 .. N-1, and runs them until a core writes the exit register; the exit
// status is the value written. --stats prints the cycles simulated and the speed to stderr.
//
// What is modelled: one RAM holding code and data, single-cycle for every core at once (every
// request granted in the cycle it is made, its response in the next; as many ports as cores,
// on the instruction and the data side: no bank conflicts, no interconnect latency, no
// instruction cache). That is a PULP cluster's shared L1 at its best, and a microcontroller's
// zero-wait-state SRAM. Four registers sit beside it (registers.h): a console, an exit status, a
// barrier whose load returns once every core has made it (the core stalls meanwhile, as at a PULP
// event unit's barrier), and the number of cores.
// Every core counts its own cycles (mcycle), so a stall at the barrier counts as a cycle.
#include <cstdint>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "Vcv32e40p_core.h"
#include "registers.h"
#include "verilated.h"

namespace {

constexpr uint32_t kRamBase = 0x00000000;
constexpr uint32_t kRamSize = 8u << 20;
constexpr uint32_t kConsole = CV32E40P_CONSOLE_ADDRESS;
constexpr uint32_t kExit = CV32E40P_EXIT_ADDRESS;
constexpr uint32_t kBarrier = CV32E40P_BARRIER_ADDRESS;
constexpr uint32_t kCores = CV32E40P_CORES_ADDRESS;
constexpr int kMaxCores = 8;

[[noreturn]] void fail(const std::string &message)
{
    std::fflush(stdout);
    std::fprintf(stderr, "cv32e40p-sim: %s\n", message.c_str());
    std::exit(2);
}

std::string hex(uint32_t value)
{
    char text[11];
    std::snprintf(text, sizeof text, "0x%08x", value);
    return text;
}

// A whole decimal number in [low, high], or the usage message.
uint64_t number(const char *text, uint64_t low, uint64_t high, const char *usage)
{
    char *end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || value < low || value > high) {
        fail(usage);
    }
    return value;
}

struct Memory {
    std::vector<uint8_t> bytes = std::vector<uint8_t>(kRamSize);

    bool contains(uint32_t address) const { return address - kRamBase <= kRamSize - 4; }

    uint32_t read(uint32_t address) const
    {
        uint32_t word;
        std::memcpy(&word, &bytes[address - kRamBase], 4);
        return word;
    }

    void write(uint32_t address, uint32_t data, uint32_t byte_enables)
    {
        for (int k = 0; k < 4; k++) {
            if (byte_enables & (1u << k)) {
                bytes[address - kRamBase + k] = static_cast<uint8_t>(data >> (8 * k));
            }
        }
    }
};

// The segments of a 32-bit little-endian RISC-V ELF executable; returns its entry point.
uint32_t load_elf(const char *path, Memory &memory)
{
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        fail(std::string(path) + ": cannot open");
    }
    std::vector<char> image((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    auto field = [&](size_t offset, size_t size) -> uint32_t {
        if (offset + size > image.size()) {
            fail(std::string(path) + ": truncated ELF file");
        }
        uint32_t value = 0;
        std::memcpy(&value, &image[offset], size);
        return value;
    };
    if (image.size() < 52 || std::memcmp(image.data(), "\x7f" "ELF\x01\x01", 6) != 0 || field(18, 2) != 243) {
        fail(std::string(path) + ": not a 32-bit little-endian RISC-V ELF file");
    }
    const uint32_t entry = field(24, 4), table = field(28, 4), entry_size = field(42, 2), count = field(44, 2);
    for (uint32_t k = 0; k < count; k++) {
        const size_t header = table + static_cast<size_t>(k) * entry_size;
        if (field(header, 4) != 1) { // PT_LOAD
            continue;
        }
        const uint32_t offset = field(header + 4, 4), address = field(header + 12, 4);
        const uint32_t file_size = field(header + 16, 4), memory_size = field(header + 20, 4);
        if (memory_size == 0) {
            continue;
        }
        if (address < kRamBase || memory_size > kRamSize || address - kRamBase > kRamSize - memory_size) {
            fail(std::string(path) + ": a segment lies outside the RAM (0 to 8 MiB)");
        }
        if (file_size > memory_size || static_cast<size_t>(offset) + file_size > image.size()) {
            fail(std::string(path) + ": a segment's bytes lie outside the file");
        }
        std::memcpy(&memory.bytes[address - kRamBase], &image[offset], file_size);
    }
    return entry;
}

// One core with its two ports' responses for the next cycle.
struct Core {
    std::unique_ptr<Vcv32e40p_core> rtl;
    bool instr_response = false, data_response = false, at_barrier = false;
    uint32_t instr_data = 0, data_data = 0;
};

} // namespace

int main(int argc, char **argv)
{
    const char *usage = "usage: cv32e40p-sim [--cores 1-8] [--max-cycles C] [--stats] PROGRAM.elf";
    int cores = 1;
    uint64_t max_cycles = 4000000000ull;
    const char *program = nullptr;
    bool stats = false;
    for (int k = 1; k < argc; k++) {
        const std::string argument = argv[k];
        if (argument == "--cores" && k + 1 < argc) {
            cores = static_cast<int>(number(argv[++k], 1, kMaxCores, usage));
        } else if (argument == "--max-cycles" && k + 1 < argc) {
            max_cycles = number(argv[++k], 1, UINT64_MAX, usage);
        } else if (argument == "--stats") {
            stats = true;
        } else if (argument[0] != '-' && program == nullptr) {
            program = argv[k];
        } else {
            fail(usage);
        }
    }
    if (program == nullptr) {
        fail(usage);
    }

    std::setvbuf(stdout, nullptr, _IOLBF, 0); // a line as soon as the firmware ends it: progress
    auto context = std::make_unique<VerilatedContext>();
    Memory memory;
    const uint32_t entry = load_elf(program, memory);
    std::vector<Core> cluster(cores);
    for (int id = 0; id < cores; id++) {
        auto &rtl = cluster[id].rtl;
        rtl = std::make_unique<Vcv32e40p_core>(context.get(), ("core" + std::to_string(id)).c_str());
        rtl->pulp_clock_en_i = 1;
        rtl->scan_cg_en_i = 0;
        rtl->boot_addr_i = entry;
        rtl->mtvec_addr_i = entry & ~0xffu;
        rtl->dm_halt_addr_i = entry;
        rtl->dm_exception_addr_i = entry;
        rtl->hart_id_i = static_cast<uint32_t>(id);
        rtl->irq_i = 0;
        rtl->debug_req_i = 0;
        rtl->apu_gnt_i = 0;
        rtl->apu_rvalid_i = 0;
        rtl->fetch_enable_i = 1;
        rtl->instr_gnt_i = 1;
        rtl->rst_ni = 0;
        for (int edge = 0; edge < 10; edge++) {
            rtl->clk_i = edge & 1;
            rtl->eval();
        }
        rtl->rst_ni = 1;
    }

    const auto start = std::chrono::steady_clock::now();
    auto report = [&](uint64_t cycles) {
        std::fflush(stdout);
        if (stats) {
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::fprintf(stderr, "cv32e40p-sim: %llu cycles on %d core(s) in %.1f s (%.2f M cycles/s)\n",
                         static_cast<unsigned long long>(cycles), cores, seconds, cycles / seconds / 1e6);
        }
    };
    int waiting = 0;
    for (uint64_t cycle = 0; cycle < max_cycles; cycle++) {
        // Low phase: this cycle's responses and grants; the cores' requests settle.
        for (Core &core : cluster) {
            Vcv32e40p_core &rtl = *core.rtl;
            rtl.clk_i = 0;
            rtl.instr_rvalid_i = core.instr_response;
            rtl.instr_rdata_i = core.instr_data;
            rtl.data_rvalid_i = core.data_response;
            rtl.data_rdata_i = core.data_data;
            rtl.data_gnt_i = !core.at_barrier;
            rtl.eval();
        }
        // The rising edge: requests made with a grant are served, their responses due next cycle.
        bool release = false;
        for (Core &core : cluster) {
            Vcv32e40p_core &rtl = *core.rtl;
            const bool fetch = rtl.instr_req_o, access = rtl.data_req_o && !core.at_barrier;
            const uint32_t fetch_address = rtl.instr_addr_o, address = rtl.data_addr_o, data = rtl.data_wdata_o;
            const bool write = rtl.data_we_o;
            const uint32_t byte_enables = rtl.data_be_o;
            rtl.clk_i = 1;
            rtl.eval();
            core.instr_response = fetch;
            if (fetch) {
                if (!memory.contains(fetch_address & ~3u)) {
                    fail("a core fetched from " + hex(fetch_address) + ", outside the RAM");
                }
                core.instr_data = memory.read(fetch_address & ~3u);
            }
            core.data_response = access;
            if (!access) {
                continue;
            }
            const uint32_t word = address & ~3u;
            core.data_data = 0;
            if (memory.contains(word)) {
                if (write) {
                    memory.write(word, data, byte_enables);
                } else {
                    core.data_data = memory.read(word);
                }
            } else if (word == kConsole && write) {
                std::putchar(static_cast<int>(data & 0xff));
            } else if (word == kExit && write) {
                report(cycle + 1);
                return static_cast<int>(data);
            } else if (word == kBarrier && !write) {
                core.data_response = false;
                core.at_barrier = true;
                release = ++waiting == cores;
            } else if (word == kCores && !write) {
                core.data_data = static_cast<uint32_t>(cores);
            } else {
                fail("a core " + std::string(write ? "wrote to " : "read from ") + hex(address) +
                     ", which is neither RAM nor a register");
            }
        }
        if (release) {
            waiting = 0;
            for (Core &core : cluster) {
                core.at_barrier = false;
                core.data_response = true;
                core.data_data = static_cast<uint32_t>(cores);
            }
        }
    }
    fail("no exit after " + std::to_string(max_cycles) + " cycles");
}
