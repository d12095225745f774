/*
 * main.c - the command-line tool: `ptbm COMMAND [options]`. Each command
 * lives in its own folder (tools/bench/, tools/probe/) and parses its
 * options with the one parser in tools/common/options.h.
 */
#include "bench.h"
#include "probe.h"

#include <ptbm.h>
#include <stdio.h>
#include <string.h>

static int version_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("ptbm %s\n", PTBM_VERSION_STRING);
	return 0;
}

static const struct command {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv); /* argv[0] is the command's name */
} commands[] = {
    {"bench", "measure the buffer manager (ptbm bench --help)", bench_main},
    {"probe", "show how this kernel's page tables and shared memory behave", ptbm_probe_main},
    {"version", "print the version", version_main},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ptbm COMMAND [options]\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].main(argc - 1, argv + 1);
	if (!strcmp(cmd, "--version"))
		return version_main(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "ptbm: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
