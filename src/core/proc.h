/*
 * proc.h - whether a process is gone (proc.c), for the dead-owner check: a
 * process is (pid, start time), so a reused pid is not the process we knew.
 */
#ifndef PTBM_CORE_PROC_H
#define PTBM_CORE_PROC_H

#include "base.h"

/* This process's start time (0 where /proc cannot tell). */
uint64_t ptbm_proc_self_start(void);
/* Is the process gone: dead, a zombie, or its pid reused? */
bool ptbm_proc_gone(int32_t pid, uint64_t start);

#endif /* PTBM_CORE_PROC_H */
