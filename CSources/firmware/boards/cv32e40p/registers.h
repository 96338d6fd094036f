/* SPDX-License-Identifier: Apache-2.0 */
/* The registers of the CV32E40P testbench (testbench.cpp), for its C, C++ and assembly alike. */
#ifndef CAPSNET_CV32E40P_REGISTERS_H
#define CAPSNET_CV32E40P_REGISTERS_H

/* A byte written is printed on the testbench's stdout. */
#define CV32E40P_CONSOLE_ADDRESS 0x20000000
/* A word written ends the simulation with that exit status. */
#define CV32E40P_EXIT_ADDRESS 0x20000004
/* A load returns once every core has made one (the core stalls meanwhile); its value is the number of cores. */
#define CV32E40P_BARRIER_ADDRESS 0x20000008
/* A load returns the number of cores. */
#define CV32E40P_CORES_ADDRESS 0x2000000c

#endif
