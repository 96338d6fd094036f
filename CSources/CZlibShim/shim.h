/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CAPSNET_CZLIB_SHIM_H
#define CAPSNET_CZLIB_SHIM_H

#include <zlib.h>

/* inflateInit2 is a macro. Window bits 15 + 32 accept gzip and zlib headers; -15 is raw deflate,
 * as zip archives store it. */
static inline int capsnet_inflate_init(z_stream *stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}

/* deflateInit2 is a macro too; 15 + 16 writes a gzip header (the tests write .gz fixtures). */
static inline int capsnet_deflate_init_gzip(z_stream *stream) {
    return deflateInit2(stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

#endif
