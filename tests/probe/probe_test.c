/*
 * probe_test.c - run an experiment for a test, read its evidence, count failures.
 */
#include "probe_test.h"
#include "probe_report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static struct probe_result result;
static int failures;

const struct probe_result *pt_run(const char *name)
{
	const struct probe_experiment *e = probe_find(name);
	if (!e) {
		fprintf(stderr, "no experiment '%s'\n", name);
		exit(1);
	}
	probe_result_init(&result, e);
	e->run(&result);
	probe_cleanup_run(&result);
	printf("%d %s: %s (%s)\n", result.id, result.name, result.verdict,
	       probe_status_name(result.status));
	if (result.status == PROBE_UNMEASURABLE) {
		printf("SKIP: %s\n", result.verdict);
		exit(77);
	}
	if (result.status == PROBE_FAILED) {
		pt_finish(&result); /* prints the evidence */
		fprintf(stderr, "FAIL: the experiment failed: %s\n", result.verdict);
		exit(1);
	}
	return &result;
}

static void missing(const char *key, const char *what)
{
	fprintf(stderr, "FAIL: evidence '%s' missing or not %s\n", key, what);
	pt_finish(&result);
	exit(1);
}

long long pt_int(const struct probe_result *r, const char *key)
{
	long long v;
	if (!probe_ev_get_int(r, key, &v))
		missing(key, "an integer");
	return v;
}

double pt_num(const struct probe_result *r, const char *key)
{
	double v;
	if (!probe_ev_get_num(r, key, &v))
		missing(key, "a number");
	return v;
}

const char *pt_str(const struct probe_result *r, const char *key)
{
	const struct probe_evidence *e = probe_ev_find(r, key);
	if (!e)
		missing(key, "present");
	return e->value;
}

bool pt_has_int(const struct probe_result *r, const char *key, long long *v)
{
	return probe_ev_get_int(r, key, v);
}

void pt_check(bool ok, const char *expr, const char *file, int line, const char *fmt, ...)
{
	if (ok)
		return;
	failures++;
	fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int pt_failures(void)
{
	return failures;
}

void pt_reset(void)
{
	failures = 0;
}

int pt_finish(const struct probe_result *r)
{
	if (failures == 0 && r->status != PROBE_FAILED) {
		printf("PASS\n");
		return 0;
	}
	struct probe_env env;
	probe_env_collect(&env);
	probe_report_markdown(stderr, &env, r, 1);
	return 1;
}

int pt_run_checked(const char *name, int attempts, void (*check)(const struct probe_result *r))
{
	int before = pt_failures();
	const struct probe_result *r = NULL;
	for (int attempt = 1; attempt <= attempts; attempt++) {
		if (attempt > 1) {
			printf("attempt %d of %d: a check failed above; measuring again\n", attempt,
			       attempts);
			pt_reset();
		}
		r = pt_run(name);
		check(r);
		if (pt_failures() == 0 || before)
			break;
	}
	return pt_finish(r);
}
