/*
 * probe_main.c - the `ptbm probe` command: options, the experiment table, the run.
 *
 *   ptbm probe [--json] [--only NAME]... [--timeout SEC] [--list]
 *
 * Each selected experiment runs in its own child (probe_run_isolated), one
 * after the other: the experiments measure fault and release costs, so they
 * must not compete with each other for the CPUs.  The exit code says whether
 * the probe ran, not what it found: 0 ran, 2 bad arguments, 1 output error.
 */
#include "probe.h"
#include "probe_report.h"
#include "probe_sys.h"

#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const struct probe_experiment probe_experiments[] = {
    {1, "fork-shared", "Shared anonymous mapping across fork: are page tables synchronized?",
     probe_exp_fork_shared, NULL},
    {2, "shmem-lookup", "How does the second process find the page?", probe_exp_shmem_lookup, NULL},
    {3, "fork-private", "Private anonymous mapping and fork: copy on write", probe_exp_fork_private,
     NULL},
    {4, "file-mappings", "File mappings, MAP_PRIVATE vs MAP_SHARED, in two processes",
     probe_exp_file_mappings, NULL},
    {5, "shm-family", "The shared-memory family: shared anonymous, SysV, POSIX, memfd",
     probe_exp_shm_family, NULL},
    {6, "demand-paging", "Demand paging: are file pages loaded only when touched?",
     probe_exp_demand_paging, NULL},
    {7, "pte-metadata", "Is PTE metadata (exclusive, soft-dirty, accessed, written) per process?",
     probe_exp_pte_metadata, NULL},
    {8, "fault-around", "Fault-around: how many PTEs does one fault install?",
     probe_exp_fault_around, NULL},
    {9, "costs", "Costs per 4 KiB page: faults, populate, release", probe_exp_costs, NULL},
    {10, "fault-path",
     "The kernel's path for a fault on a shared page: which structure answers the lookup?",
     probe_exp_fault_path, probe_explain_fault_path},
    {11, "read-speed",
     "Why do page-cache frames read faster than a pool's own: folios, placement or mappings?",
     probe_exp_read_speed, NULL},
    {12, "after-read",
     "A miss's own work at queue depth 1: hidden while its read is in flight, dearer after it?",
     probe_exp_after_read, NULL},
};
const size_t probe_n_experiments = sizeof(probe_experiments) / sizeof(probe_experiments[0]);

const struct probe_experiment *probe_find(const char *key)
{
	char *end;
	long id = strtol(key, &end, 10);
	bool numeric = *key && *end == '\0';
	for (size_t i = 0; i < probe_n_experiments; i++) {
		const struct probe_experiment *e = &probe_experiments[i];
		if (numeric ? e->id == id : strcasecmp(e->name, key) == 0)
			return e;
	}
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: ptbm probe [--json] [--only NAME]... [--timeout SEC] [--list]\n"
		     "  --json         print JSON instead of Markdown\n"
		     "  --only NAME    run one experiment (id or short name); may repeat\n"
		     "  --timeout SEC  time limit per experiment (default 60)\n"
		     "  --list         list the experiments\n");
}

static int bad_args(const char *fmt, const char *arg)
{
	fprintf(stderr, "ptbm probe: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return 2;
}

enum { O_JSON = 1, O_LIST, O_ONLY, O_TIMEOUT };

static const struct opt options[] = {
    {"json", false, O_JSON},	  {"list", false, O_LIST}, {"only", true, O_ONLY},
    {"timeout", true, O_TIMEOUT}, {NULL, false, 0},
};

int ptbm_probe_main(int argc, char **argv)
{
	bool json = false, list = false;
	double timeout_s = 60;
	bool selected[sizeof(probe_experiments) / sizeof(probe_experiments[0])] = {false};
	bool any_selected = false;

	struct opt_parser p;
	opt_init(&p, argc, argv, options);
	int c;
	while ((c = opt_next(&p)) != OPT_END) {
		const char *v = p.value;
		switch (c) {
		case O_JSON:
			json = true;
			break;
		case O_LIST:
			list = true;
			break;
		case O_ONLY: {
			const struct probe_experiment *e = probe_find(v);
			if (!e)
				return bad_args("no experiment '%s' (see --list)", v);
			selected[e - probe_experiments] = true;
			any_selected = true;
			break;
		}
		case O_TIMEOUT: {
			char *end;
			timeout_s = strtod(v, &end);
			if (*v == '\0' || *end != '\0' || !(timeout_s > 0 && timeout_s <= 3600))
				return bad_args("--timeout wants seconds in (0, 3600], not '%s'",
						v);
			break;
		}
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_NEEDS_VALUE:
			return bad_args("%s needs a value", p.arg);
		default:
			return bad_args("unknown argument '%s'", p.arg);
		}
	}

	if (list) {
		for (size_t i = 0; i < probe_n_experiments; i++)
			printf("%d %-14s %s\n", probe_experiments[i].id, probe_experiments[i].name,
			       probe_experiments[i].title);
		return 0;
	}

	struct probe_result *rs = calloc(probe_n_experiments, sizeof(*rs));
	if (!rs) {
		fprintf(stderr, "ptbm probe: out of memory\n");
		return 1;
	}
	struct probe_env env;
	probe_env_collect(&env);
	bool progress = isatty(STDERR_FILENO);
	uint64_t t0 = probe_now_ns();
	size_t n = 0;
	for (size_t i = 0; i < probe_n_experiments; i++) {
		if (any_selected && !selected[i])
			continue;
		const struct probe_experiment *e = &probe_experiments[i];
		if (progress)
			fprintf(stderr, "probe: %d %s ...\n", e->id, e->name);
		probe_run_isolated(e, timeout_s, &rs[n++]);
	}
	env.elapsed_s = (double)(probe_now_ns() - t0) / 1e9;
	int rc = json ? probe_report_json(stdout, &env, rs, n)
		      : probe_report_markdown(stdout, &env, rs, n);
	free(rs);
	if (rc < 0) {
		fprintf(stderr, "ptbm probe: writing the report: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
