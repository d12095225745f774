/*
 * json.h - what the commands' JSON writers share (json.c).
 */
#ifndef PTBM_TOOLS_JSON_H
#define PTBM_TOOLS_JSON_H

#include <stdio.h>

/* s as a JSON string, quoted and escaped. */
void json_string(FILE *f, const char *s);

#endif /* PTBM_TOOLS_JSON_H */
