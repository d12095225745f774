/*
 * base.h - what every layer of libptbm shares: the public header, branch
 * hints, the cache line and the layout version. Nothing else; each folder
 * has its own header for its own idea (src/README.md, "Files").
 */
#ifndef PTBM_BASE_H
#define PTBM_BASE_H

#include "ptbm.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PTBM_LIKELY(x)	 __builtin_expect(!!(x), 1)
#define PTBM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PTBM_CACHELINE	 64

/* Layout of the shared control block and of the data file. Bump on change. */
#define PTBM_LAYOUT_VERSION 2u

#endif /* PTBM_BASE_H */
