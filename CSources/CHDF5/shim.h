/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CAPSNET_CHDF5_SHIM_H
#define CAPSNET_CHDF5_SHIM_H

#include <hdf5.h>

/* HDF5's predefined types and property lists are macros over library globals, which Swift
 * cannot import; these accessors hand them over as values. */
static inline hid_t capsnet_h5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t capsnet_h5_string_type(void) { return H5T_C_S1; }
static inline unsigned capsnet_h5_read_only(void) { return H5F_ACC_RDONLY; }
static inline hid_t capsnet_h5_default(void) { return H5P_DEFAULT; }
static inline hid_t capsnet_h5_all(void) { return H5S_ALL; }
static inline hid_t capsnet_h5_error_stack(void) { return H5E_DEFAULT; }
static inline size_t capsnet_h5_variable_size(void) { return H5T_VARIABLE; }

/* A file-access property list that opens an in-memory file image (read-only, not copied back). */
static inline hid_t capsnet_h5_memory_file_access(void *image, size_t size) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    if (H5Pset_fapl_core(fapl, 64 * 1024, 0) < 0 || H5Pset_file_image(fapl, image, size) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

#endif
