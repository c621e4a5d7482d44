/* Bridge to hiredis 0.14: Swift uses the binary-safe argv calls, never the variadic ones. */
#ifndef ESPER_CHIREDIS_SHIM_H
#define ESPER_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
