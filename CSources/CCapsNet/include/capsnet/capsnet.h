/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet.h
 * @brief Umbrella header of the CapsNet int8 kernels: include this one header.
 */
#ifndef CAPSNET_H
#define CAPSNET_H

#include "capsnet_types.h"
#include "capsnet_functions.h"

#endif /* CAPSNET_H */
