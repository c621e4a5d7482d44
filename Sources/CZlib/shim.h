/* Bridge to zlib: CRC-32 for log records. */
#ifndef ESPER_CZLIB_SHIM_H
#define ESPER_CZLIB_SHIM_H
#include <zlib.h>
#endif
