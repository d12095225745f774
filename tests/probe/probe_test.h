/*
 * probe_test.h - what the probe tests (tests/probe/probe_*.c) share.
 *
 * Each test runs one experiment directly in the test process (itself a
 * fresh process), then checks the measured evidence against the Linux
 * behaviour stated in its Description (docs/probe.md, "What the kernel
 * does", gives the kernel source behind each).  No test asserts a cost
 * ratio of the machine: the project's hosts come in two kinds (shadow and
 * nested paging) whose costs differ by up to 10x.  Checks read evidence
 * values, never the verdict text alone, so a kernel that behaves differently
 * fails the test.  Exit codes follow the liburing convention: 0 pass,
 * 1 fail, 77 skip (the experiment reported "not measurable here").
 */
#ifndef PTBM_PROBE_TEST_H
#define PTBM_PROBE_TEST_H

#include "probe.h"

#include <stdbool.h>

/* Run experiment name (id or short name) in this process and clean up after
 * it.  Exits 77 when it is not measurable here, 1 when it failed. */
const struct probe_result *pt_run(const char *name);

/* The integer (or boolean as 0/1) at key; a missing key fails the test. */
long long pt_int(const struct probe_result *r, const char *key);
/* The number at key; a missing key fails the test. */
double pt_num(const struct probe_result *r, const char *key);
/* The text at key; a missing key fails the test. */
const char *pt_str(const struct probe_result *r, const char *key);
/* True when key holds a number (PFN evidence is text where not measurable). */
bool pt_has_int(const struct probe_result *r, const char *key, long long *v);

/* Record a failed check (printed at once with its source line). */
#define PT_CHECK(cond, ...) pt_check((cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
void pt_check(bool ok, const char *expr, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Failed checks so far, and forgetting them (for a test that measures again). */
int pt_failures(void);
void pt_reset(void);

/*
 * Run experiment name and check(result) up to attempts times, until a run
 * passes every check (a burst of load passes; a figure that never repeats,
 * or evidence that does not add up, fails every run).  Checks failed before
 * the call (a rule checked on documented figures) are never retried away.
 * Returns what pt_finish returns for the last run.
 */
int pt_run_checked(const char *name, int attempts, void (*check)(const struct probe_result *r));

/* 0 when every check passed; otherwise print the whole result and return 1. */
int pt_finish(const struct probe_result *r);

#endif /* PTBM_PROBE_TEST_H */
