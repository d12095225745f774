/*
 * checksum.h - the page trailer (checksum.c): a torn or corrupted page is an
 * error, never data.
 */
#ifndef PTBM_CORE_CHECKSUM_H
#define PTBM_CORE_CHECKSUM_H

#include "base.h"

/* Write page pid's trailer (its last PTBM_PAGE_TRAILER bytes). */
void ptbm_page_seal(void *page, uint32_t page_size, uint64_t pid);
/* 0 if the page is whole; an all-zero page is whole if it was never written. */
int ptbm_page_verify(const void *page, uint32_t page_size, uint64_t pid, bool written);

#endif /* PTBM_CORE_CHECKSUM_H */
