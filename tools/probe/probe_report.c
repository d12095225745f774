/*
 * probe_report.c - print results as Markdown (for people) or JSON (for tools).
 *
 * Both formats carry the same data: kernel, privilege, the host's paging
 * (shadow or nested, as experiment 9 classified it from its evidence, when it
 * ran), and per experiment its id, short name, title, verdict, status and
 * evidence.  Markdown puts a verdict
 * table first so the answers fit on a screen; the evidence follows in one
 * table per experiment.  JSON prints integer, real and boolean evidence bare
 * and everything else as escaped strings.
 */
#include "probe_report.h"
#include "probe_sys.h"

#include "json.h"

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

void probe_env_collect(struct probe_env *env)
{
	memset(env, 0, sizeof(*env));
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(env->kernel, sizeof(env->kernel), "%s %s %s %s", u.sysname, u.release,
			 u.version, u.machine);
	else
		snprintf(env->kernel, sizeof(env->kernel), "unknown");
	env->privileged = probe_pfns_visible();
	env->page_size = probe_page_size();
}

/* Experiment 9's host_paging evidence, or NULL when it did not run. */
static const char *host_paging(const struct probe_result *rs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct probe_evidence *e = probe_ev_find(&rs[i], "host_paging");
		if (e)
			return e->value;
	}
	return NULL;
}

/* Markdown table cell: '|' escaped, newlines flattened. */
static void md_cell(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

int probe_report_markdown(FILE *out, const struct probe_env *env, const struct probe_result *rs,
			  size_t n)
{
	fprintf(out, "# ptbm probe\n\n");
	fprintf(out, "- kernel: %s\n", env->kernel);
	fprintf(out, "- privileged: %s\n",
		env->privileged ? "yes (pagemap shows PFNs)"
				: "no (PFNs hidden: physical-page evidence is not measurable)");
	fprintf(out, "- page size: %zu bytes\n", env->page_size);
	const char *paging = host_paging(rs, n);
	if (paging)
		fprintf(out, "- host paging: %s (experiment 9, costs)\n", paging);
	else
		fprintf(out, "- host paging: not classified (experiment 9, costs, did not run)\n");
	fprintf(out, "- run time: %.1f s\n\n", env->elapsed_s);

	fprintf(out, "| # | experiment | verdict | status |\n|---|---|---|---|\n");
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "| %d | %s | ", rs[i].id, rs[i].name ? rs[i].name : "?");
		md_cell(out, rs[i].verdict);
		fprintf(out, " | %s |\n", probe_status_name(rs[i].status));
	}
	for (size_t i = 0; i < n; i++) {
		const struct probe_result *r = &rs[i];
		fprintf(out, "\n## %d. %s\n\n", r->id, r->title ? r->title : "?");
		fprintf(out, "**Verdict** (%s, %.2f s): %s\n\n", probe_status_name(r->status),
			r->elapsed_s, r->verdict);
		const struct probe_experiment *e = r->name ? probe_find(r->name) : NULL;
		if (e && e->explain &&
		    (r->status == PROBE_CONCLUSIVE || r->status == PROBE_INCONCLUSIVE))
			e->explain(out, r);
		if (r->n_evidence == 0)
			continue;
		fprintf(out, "| evidence | value |\n|---|---|\n");
		for (size_t j = 0; j < r->n_evidence; j++) {
			fprintf(out, "| %s | ", r->evidence[j].key);
			md_cell(out, r->evidence[j].value);
			fprintf(out, " |\n");
		}
		if (r->evidence_truncated)
			fprintf(out, "\n(evidence truncated at %d entries)\n", PROBE_MAX_EVIDENCE);
	}
	fflush(out);
	return ferror(out) ? -EIO : 0;
}

int probe_report_json(FILE *out, const struct probe_env *env, const struct probe_result *rs,
		      size_t n)
{
	fputs("{\"kernel\": ", out);
	json_string(out, env->kernel);
	fprintf(out, ", \"privileged\": %s, \"page_size\": %zu, \"elapsed_s\": %.3f,\n",
		env->privileged ? "true" : "false", env->page_size, env->elapsed_s);
	const char *paging = host_paging(rs, n);
	fputs(" \"host_paging\": ", out);
	if (paging)
		json_string(out, paging);
	else
		fputs("null", out);
	fputs(",\n", out);
	fputs(" \"experiments\": [", out);
	for (size_t i = 0; i < n; i++) {
		const struct probe_result *r = &rs[i];
		fprintf(out, "%s\n  {\"id\": %d, \"name\": ", i ? "," : "", r->id);
		json_string(out, r->name ? r->name : "");
		fputs(", \"title\": ", out);
		json_string(out, r->title ? r->title : "");
		fputs(", \"verdict\": ", out);
		json_string(out, r->verdict);
		fprintf(out, ", \"conclusive\": %s, \"status\": ",
			r->status == PROBE_CONCLUSIVE ? "true" : "false");
		json_string(out, probe_status_name(r->status));
		fprintf(out, ", \"elapsed_s\": %.3f,\n   \"evidence\": {", r->elapsed_s);
		for (size_t j = 0; j < r->n_evidence; j++) {
			const struct probe_evidence *e = &r->evidence[j];
			fputs(j ? ", " : "", out);
			json_string(out, e->key);
			fputs(": ", out);
			if (e->kind == PROBE_V_STR)
				json_string(out, e->value);
			else
				fputs(e->value, out);
		}
		fputs("}}", out);
	}
	fputs("\n ]}\n", out);
	fflush(out);
	return ferror(out) ? -EIO : 0;
}
