/*
 * internal.h - every layer's header at once, for code that reaches inside
 * the library (the tests). The library's own files include only the
 * headers of what they use; src/README.md, "Files", says what each holds.
 */
#ifndef PTBM_INTERNAL_H
#define PTBM_INTERNAL_H

#include "base.h"
#include "core/backoff.h"
#include "core/checksum.h"
#include "core/datafile.h"
#include "core/fault.h"
#include "core/folios.h"
#include "core/pageio.h"
#include "core/pageset.h"
#include "core/proc.h"
#include "core/region.h"
#include "core/runs.h"
#include "pool/pool.h"
#include "registry/slot.h"
#include "registry/stats.h"
#include "registry/threads.h"
#include "vm/hit.h"
#include "vm/latch_wait.h"
#include "vm/state.h"

#endif /* PTBM_INTERNAL_H */
