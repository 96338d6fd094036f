#ifndef CAPSNET_CZLIB_SHIM_H
#define CAPSNET_CZLIB_SHIM_H

#include <zlib.h>

/* inflateInit2 is a macro. Window bits 15 + 32 accept gzip and zlib headers; -15 is raw deflate,
 * as zip archives store it. */
static inline int capsnet_inflate_init(z_stream *stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}

#endif
