/*
 * probe_report.h - the machine the probe ran on, and the two report formats.
 */
#ifndef PTBM_PROBE_REPORT_H
#define PTBM_PROBE_REPORT_H

#include "probe.h"

#include <stdbool.h>
#include <stdio.h>

struct probe_env {
	char kernel[300]; /* "Linux <release> <version> <machine>" from uname(2) */
	bool privileged;  /* pagemap shows PFNs (measured, not assumed from uid) */
	size_t page_size; /* bytes */
	double elapsed_s; /* wall time of the whole run */
};

void probe_env_collect(struct probe_env *env);

/* Verdict table first, then evidence per experiment.  0 or -errno. */
int probe_report_markdown(FILE *out, const struct probe_env *env, const struct probe_result *rs,
			  size_t n);
/* {"kernel", "privileged", "page_size", "elapsed_s", "host_paging" (experiment 9's
 * classification, null when it did not run), "experiments": [...]}.  0 or -errno. */
int probe_report_json(FILE *out, const struct probe_env *env, const struct probe_result *rs,
		      size_t n);

#endif /* PTBM_PROBE_REPORT_H */
