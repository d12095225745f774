/*
 * options.h - the one option parser of every `ptbm` command.
 *
 * A command lists its options (a name, whether it takes a value, an id)
 * and asks for them one at a time: opt_next returns the id of the next
 * option with its value in p->value, or a negative code the command turns
 * into its own message (all commands exit 2 on a bad argument). Accepted:
 * "--name", "--name VALUE", "--name=VALUE", "-h" or "--help" (OPT_HELP),
 * and "--" (what follows is not an option). Names are matched whole.
 */
#ifndef PTBM_TOOLS_OPTIONS_H
#define PTBM_TOOLS_OPTIONS_H

#include <stdbool.h>

struct opt {
	const char *name; /* without the leading "--"; NULL ends the list */
	bool has_value;
	int id; /* > 0, returned by opt_next */
};

enum {
	OPT_END = 0,		 /* no more arguments */
	OPT_HELP = -1,		 /* -h or --help */
	OPT_UNKNOWN = -2,	 /* p->arg is no option of the list */
	OPT_NEEDS_VALUE = -3,	 /* p->arg takes a value and has none */
	OPT_TAKES_NO_VALUE = -4, /* p->arg was given "=VALUE" but takes none */
	OPT_POSITIONAL = -5,	 /* p->arg is not an option at all */
};

struct opt_parser {
	int argc;
	char **argv; /* argv[0] is the command's name */
	int next;    /* the next argument to look at */
	bool options_done;
	const struct opt *opts;
	const char *arg;   /* the argument opt_next looked at last */
	const char *value; /* the value of the option it returned */
};

void opt_init(struct opt_parser *p, int argc, char **argv, const struct opt *opts);
/* The next option's id (> 0), OPT_END, or one of the codes above. */
int opt_next(struct opt_parser *p);
/* The name of the option with that id in opts ("" if there is none). */
const char *opt_name(const struct opt *opts, int id);
/* Which of the NULL-terminated choices value is (its index), or -1. */
int opt_choice(const char *value, const char *const *choices);

#endif /* PTBM_TOOLS_OPTIONS_H */
