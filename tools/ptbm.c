/*
 * ptbm.c - the command-line tool: `ptbm bench`, `ptbm probe`, `ptbm version`.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#ifdef PTBM_HAVE_PROBE
#include "probe.h"
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: ptbm COMMAND [options]\n"
		   "  bench    measure the buffer manager (ptbm bench --help)\n"
#ifdef PTBM_HAVE_PROBE
		   "  probe    show how this kernel's page tables and shared memory behave\n"
#endif
		   "  version  print the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "bench"))
		return bench_main(argc - 1, argv + 1);
#ifdef PTBM_HAVE_PROBE
	if (!strcmp(cmd, "probe"))
		return ptbm_probe_main(argc - 1, argv + 1);
#endif
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("ptbm %s\n", PTBM_VERSION_STRING);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ptbm: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
