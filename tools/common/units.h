/*
 * units.h - human units on the command line: sizes ("8k", "1GiB", "1.5g"),
 * durations ("10", "2.5s", "500ms") and fractions ("0.2", "20%").
 */
#ifndef PTBM_TOOLS_UNITS_H
#define PTBM_TOOLS_UNITS_H

#include <stdint.h>

/* Each returns 0, or -1 if text is not a valid value (nothing stored). */
int parse_size(const char *text, uint64_t *bytes);
int parse_seconds(const char *text, double *seconds);
int parse_fraction(const char *text, double *fraction);
/* "1.0 GiB" into buf; returns buf. */
const char *format_size(uint64_t bytes, char *buf, int len);

#endif
