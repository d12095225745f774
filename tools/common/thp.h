/*
 * thp.h - the transparent_hugepage settings as the commands report them
 * (thp.c): the kernel decides from them how large a folio a fault gets.
 */
#ifndef PTBM_TOOLS_THP_H
#define PTBM_TOOLS_THP_H

#include <stddef.h>

/* The bracketed choice of /sys/kernel/mm/transparent_hugepage/<file>
 * ("madvise"), its plain value if it has none (hpage_pmd_size), or "" if
 * the file cannot be read. */
void thp_choice(const char *file, char *out, size_t len);
/* The choice of hugepages-<bytes in kB>kB/shmem_enabled: whether anonymous
 * shmem gets folios of that size ("" on a kernel without per-size files). */
void thp_shmem_of_size(size_t bytes, char *out, size_t len);

#endif /* PTBM_TOOLS_THP_H */
