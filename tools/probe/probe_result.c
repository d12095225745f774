/*
 * probe_result.c - building a struct probe_result: evidence, verdicts, clean-ups.
 *
 * Every experiment reports through these functions and nothing else, so the
 * emitters (probe_report.c) and the tests see one shape.  Values are rendered
 * to text at once (the result must survive a copy out of a dead child's shared
 * memory), with a kind that tells JSON whether to quote them.
 *
 * Clean-ups: an experiment that creates a name outside its own address space
 * (a temporary file, a POSIX shm name, a SysV segment) registers it here before
 * anything can fail.  The experiment removes it itself on its normal path; the
 * runner calls probe_cleanup_run() afterwards in every case, so a crash or a
 * timeout leaves nothing behind.
 */
#include "probe.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

void probe_result_init(struct probe_result *r, const struct probe_experiment *e)
{
	memset(r, 0, sizeof(*r));
	if (e) {
		r->id = e->id;
		r->name = e->name;
		r->title = e->title;
	}
	r->status = PROBE_FAILED;
	snprintf(r->verdict, sizeof(r->verdict), "failed: no verdict");
}

/* The slot for key, or NULL when the key exists already or the table is full. */
static struct probe_evidence *ev_slot(struct probe_result *r, const char *key)
{
	if (probe_ev_find(r, key))
		return NULL;
	if (r->n_evidence >= PROBE_MAX_EVIDENCE) {
		r->evidence_truncated = true;
		return NULL;
	}
	struct probe_evidence *e = &r->evidence[r->n_evidence++];
	snprintf(e->key, sizeof(e->key), "%s", key);
	return e;
}

void probe_ev_int(struct probe_result *r, const char *key, long long v)
{
	struct probe_evidence *e = ev_slot(r, key);
	if (!e)
		return;
	e->kind = PROBE_V_INT;
	snprintf(e->value, sizeof(e->value), "%lld", v);
}

void probe_ev_num(struct probe_result *r, const char *key, double v)
{
	struct probe_evidence *e = ev_slot(r, key);
	if (!e)
		return;
	if (!isfinite(v)) { /* JSON has no NaN: keep it as text */
		e->kind = PROBE_V_STR;
		snprintf(e->value, sizeof(e->value), "%g", v);
		return;
	}
	e->kind = PROBE_V_NUM;
	/* Three decimals are plenty for ratios and nanoseconds. */
	snprintf(e->value, sizeof(e->value), "%.3f", v);
}

void probe_ev_bool(struct probe_result *r, const char *key, bool v)
{
	struct probe_evidence *e = ev_slot(r, key);
	if (!e)
		return;
	e->kind = PROBE_V_BOOL;
	snprintf(e->value, sizeof(e->value), "%s", v ? "true" : "false");
}

void probe_ev_str(struct probe_result *r, const char *key, const char *fmt, ...)
{
	struct probe_evidence *e = ev_slot(r, key);
	if (!e)
		return;
	e->kind = PROBE_V_STR;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->value, sizeof(e->value), fmt, ap);
	va_end(ap);
}

void probe_verdict(struct probe_result *r, enum probe_status status, const char *fmt, ...)
{
	const char *prefix = "";
	if (status == PROBE_UNMEASURABLE)
		prefix = "not measurable here: ";
	else if (status == PROBE_FAILED)
		prefix = "failed: ";
	size_t n = (size_t)snprintf(r->verdict, sizeof(r->verdict), "%s", prefix);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->verdict + n, sizeof(r->verdict) - n, fmt, ap);
	va_end(ap);
	r->status = status;
}

void probe_fail_errno(struct probe_result *r, const char *what, int err)
{
	probe_verdict(r, PROBE_FAILED, "%s: %s", what, strerror(err));
}

const struct probe_evidence *probe_ev_find(const struct probe_result *r, const char *key)
{
	for (size_t i = 0; i < r->n_evidence; i++)
		if (strcmp(r->evidence[i].key, key) == 0)
			return &r->evidence[i];
	return NULL;
}

bool probe_ev_get_int(const struct probe_result *r, const char *key, long long *out)
{
	const struct probe_evidence *e = probe_ev_find(r, key);
	if (!e)
		return false;
	if (e->kind == PROBE_V_BOOL) {
		*out = strcmp(e->value, "true") == 0;
		return true;
	}
	return e->kind == PROBE_V_INT && sscanf(e->value, "%lld", out) == 1;
}

bool probe_ev_get_num(const struct probe_result *r, const char *key, double *out)
{
	const struct probe_evidence *e = probe_ev_find(r, key);
	if (!e || (e->kind != PROBE_V_INT && e->kind != PROBE_V_NUM))
		return false;
	return sscanf(e->value, "%lf", out) == 1;
}

const char *probe_status_name(enum probe_status s)
{
	switch (s) {
	case PROBE_CONCLUSIVE:
		return "conclusive";
	case PROBE_INCONCLUSIVE:
		return "inconclusive";
	case PROBE_UNMEASURABLE:
		return "not measurable";
	case PROBE_FAILED:
		return "failed";
	}
	return "unknown";
}

int probe_cleanup_add(struct probe_result *r, enum probe_cleanup_kind kind, const char *name,
		      int sysv_id)
{
	if (r->n_cleanup >= PROBE_MAX_CLEANUP)
		return -ENOSPC;
	struct probe_cleanup *c = &r->cleanup[r->n_cleanup++];
	c->kind = kind;
	c->sysv_id = sysv_id;
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	return 0;
}

void probe_cleanup_run(struct probe_result *r)
{
	for (size_t i = 0; i < r->n_cleanup; i++) {
		struct probe_cleanup *c = &r->cleanup[i];
		/* Errors are expected: the experiment usually removed it already. */
		switch (c->kind) {
		case PROBE_CLEAN_PATH:
			(void)unlink(c->name);
			break;
		case PROBE_CLEAN_SHM:
			(void)shm_unlink(c->name);
			break;
		case PROBE_CLEAN_SYSV:
			(void)shmctl(c->sysv_id, IPC_RMID, NULL);
			break;
		case PROBE_CLEAN_NONE:
			break;
		}
		c->kind = PROBE_CLEAN_NONE;
	}
	r->n_cleanup = 0;
}
