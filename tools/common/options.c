/*
 * options.c - the one option parser of every `ptbm` command (options.h).
 */
#include "options.h"

#include <stddef.h>
#include <string.h>

void opt_init(struct opt_parser *p, int argc, char **argv, const struct opt *opts)
{
	*p = (struct opt_parser){.argc = argc, .argv = argv, .next = 1, .opts = opts};
}

int opt_next(struct opt_parser *p)
{
	p->value = NULL;
	if (p->next >= p->argc)
		return OPT_END;
	const char *a = p->arg = p->argv[p->next++];
	if (!p->options_done && !strcmp(a, "--")) {
		p->options_done = true;
		return opt_next(p);
	}
	if (p->options_done || a[0] != '-' || !a[1])
		return OPT_POSITIONAL;
	if (!strcmp(a, "-h") || !strcmp(a, "--help"))
		return OPT_HELP;
	if (a[1] != '-')
		return OPT_UNKNOWN;
	const char *name = a + 2, *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	for (const struct opt *o = p->opts; o->name; o++) {
		if (strlen(o->name) != len || strncmp(o->name, name, len) != 0)
			continue;
		if (!o->has_value)
			return eq ? OPT_TAKES_NO_VALUE : o->id;
		if (eq)
			p->value = eq + 1;
		else if (p->next < p->argc)
			p->value = p->argv[p->next++];
		else
			return OPT_NEEDS_VALUE;
		return o->id;
	}
	return OPT_UNKNOWN;
}

const char *opt_name(const struct opt *opts, int id)
{
	for (const struct opt *o = opts; o->name; o++)
		if (o->id == id)
			return o->name;
	return "";
}

int opt_choice(const char *value, const char *const *choices)
{
	for (int i = 0; choices[i]; i++)
		if (!strcmp(value, choices[i]))
			return i;
	return -1;
}
