/*
 * Description: the `ptbm probe` command line, its reports and its runner.
 *   - bad arguments return 2 with a message; --list and --help return 0;
 *   - experiments are found by id and by short name;
 *   - --json prints valid JSON with the documented fields, for exactly the
 *     experiments chosen with --only; Markdown starts with the verdict table;
 *   - both name the host's paging from experiment 9's host_paging evidence
 *     when it ran, and say it was not classified when it did not;
 *   - Markdown explains a measured fault-path result in prose built from
 *     its evidence, and leaves an unmeasurable one at its reason;
 *   - the runner turns a hung experiment into "failed: timed out" within its
 *     time limit, a killed one into "killed by signal", kills the peers it
 *     left behind, and removes the temporary names it registered.
 */
#include "probe_test.h"
#include "probe_report.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- a minimal JSON syntax checker ---- */

static const char *ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

static const char *json_value(const char *s, int depth);

static const char *json_string(const char *s)
{
	if (*s != '"')
		return NULL;
	for (s++; *s && *s != '"'; s++) {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
						return NULL;
				s += 4;
			} else if (!*s || !strchr("\"\\/bfnrt", *s)) {
				return NULL;
			}
		}
	}
	return *s == '"' ? s + 1 : NULL;
}

static const char *json_number(const char *s)
{
	const char *start = s;
	if (*s == '-')
		s++;
	if (*s < '0' || *s > '9')
		return NULL;
	while ((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' || *s == 'E' || *s == '+' ||
	       *s == '-')
		s++;
	return s > start ? s : NULL;
}

static const char *json_value(const char *s, int depth)
{
	s = ws(s);
	if (depth > 16)
		return NULL;
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';
		bool object = *s == '{';
		s = ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (object) {
				s = json_string(ws(s));
				if (!s)
					return NULL;
				s = ws(s);
				if (*s++ != ':')
					return NULL;
			}
			s = json_value(s, depth + 1);
			if (!s)
				return NULL;
			s = ws(s);
			if (*s == close)
				return s + 1;
			if (*s++ != ',')
				return NULL;
		}
	}
	if (*s == '"')
		return json_string(s);
	if (!strncmp(s, "true", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (!strncmp(s, "null", 4))
		return s + 4;
	return json_number(s);
}

static bool json_valid(const char *s)
{
	s = json_value(s, 0);
	return s && *ws(s) == '\0';
}

/* ---- running ptbm_probe_main with captured output ---- */

struct run {
	int rc;
	char out[1 << 20]; /* stdout */
	char err[1 << 14]; /* stderr */
};
static struct run run_buf;

static void slurp(int fd, char *buf, size_t len)
{
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Run `probe args...` (NULL-terminated) with stdout and stderr captured. */
static struct run *run_probe(const char *first, ...)
{
	char *argv[16] = {"probe"};
	int argc = 1;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	char out_path[] = "/tmp/ptbm-probe-cli-out-XXXXXX";
	char err_path[] = "/tmp/ptbm-probe-cli-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	if (out_fd < 0 || err_fd < 0) {
		perror("mkstemp");
		exit(1);
	}
	unlink(out_path);
	unlink(err_path);
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
	dup2(out_fd, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	run_buf.rc = ptbm_probe_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	slurp(out_fd, run_buf.out, sizeof(run_buf.out));
	slurp(err_fd, run_buf.err, sizeof(run_buf.err));
	return &run_buf;
}

static void check_bad(const char *a, const char *b)
{
	struct run *x = run_probe(a, b, (const char *)NULL);
	PT_CHECK(x->rc == 2, "'%s %s' returns 2 (got %d)", a, b ? b : "", x->rc);
	PT_CHECK(strstr(x->err, "ptbm probe:") && strstr(x->err, "usage:"),
		 "'%s %s' explains itself on stderr: %s", a, b ? b : "", x->err);
	PT_CHECK(x->out[0] == '\0', "and prints no report");
}

static void test_arguments(void)
{
	check_bad("--bogus", NULL);
	check_bad("--only", NULL);
	check_bad("--only", "no-such-experiment");
	check_bad("--only", "99");
	check_bad("--timeout", "soon");
	check_bad("--timeout", "0");

	struct run *x = run_probe("--list", (const char *)NULL);
	PT_CHECK(x->rc == 0, "--list returns 0");
	int lines = 0;
	for (const char *p = x->out; *p; p++)
		lines += *p == '\n';
	PT_CHECK(lines == (int)probe_n_experiments, "--list prints %zu lines (%d)",
		 probe_n_experiments, lines);
	x = run_probe("--help", (const char *)NULL);
	PT_CHECK(x->rc == 0 && strstr(x->out, "usage:"), "--help prints usage and returns 0");

	for (size_t i = 0; i < probe_n_experiments; i++) {
		const struct probe_experiment *e = &probe_experiments[i];
		char id[8];
		snprintf(id, sizeof(id), "%d", e->id);
		PT_CHECK(e->id == (int)i + 1, "ids are 1..n in order");
		PT_CHECK(probe_find(id) == e && probe_find(e->name) == e,
			 "experiment %d is found by id and by name", e->id);
	}
	PT_CHECK(probe_find("FORK-SHARED") == probe_find("1"), "names are case-insensitive");
	PT_CHECK(probe_find("") == NULL && probe_find("1x") == NULL, "junk finds nothing");
}

static void test_json(void)
{
	struct run *x =
	    run_probe("--json", "--only", "fault-around", "--only=1", (const char *)NULL);
	PT_CHECK(x->rc == 0, "a run returns 0 (%d): %s", x->rc, x->err);
	PT_CHECK(json_valid(x->out), "--json prints valid JSON:\n%s", x->out);
	PT_CHECK(strncmp(x->out, "{\"kernel\": \"Linux ", 18) == 0, "it starts with the kernel");
	PT_CHECK(strstr(x->out, "\"privileged\": true") || strstr(x->out, "\"privileged\": false"),
		 "privileged is a boolean");
	PT_CHECK(strstr(x->out, "\"experiments\": ["), "experiments is an array");
	/* Exactly experiments 1 and 8, in table order. */
	const char *one = strstr(x->out, "{\"id\": 1,"), *eight = strstr(x->out, "{\"id\": 8,");
	PT_CHECK(one && eight && one < eight, "experiments 1 then 8");
	int ids = 0;
	for (const char *p = x->out; (p = strstr(p, "{\"id\": ")); p++)
		ids++;
	PT_CHECK(ids == 2, "only the chosen experiments ran (%d)", ids);
	for (const char *f = "\"title\": \0\"verdict\": \0\"conclusive\": \0\"evidence\": {\0"; *f;
	     f += strlen(f) + 1) {
		int count = 0;
		for (const char *p = x->out; (p = strstr(p, f)); p++)
			count++;
		PT_CHECK(count == 2, "each experiment has %s (%d)", f, count);
	}
	PT_CHECK(strstr(x->out, "\"shared_anon.read_fault_ptes\": ") != NULL,
		 "integer evidence is printed bare");
	PT_CHECK(strstr(x->out, "\"host_paging\": null,") != NULL,
		 "without experiment 9 the host paging is null");
}

/* The report header carries experiment 9's host_paging, whatever it says. */
static void test_host_paging(void)
{
	static struct probe_result rs[2];
	probe_result_init(&rs[0], probe_find("fork-shared"));
	probe_result_init(&rs[1], probe_find("costs"));
	probe_ev_str(&rs[1], "host_paging", "%s", "shadow paging");
	struct probe_env env;
	probe_env_collect(&env);
	static char buf[1 << 16];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	PT_CHECK(f && probe_report_markdown(f, &env, rs, 2) == 0, "Markdown written");
	if (f)
		fclose(f);
	const char *line = strstr(buf, "- host paging: shadow paging (experiment 9, costs)\n");
	const char *table = strstr(buf, "| # | experiment |");
	PT_CHECK(line && table && line < table, "the Markdown header names the host:\n%s", buf);
	f = fmemopen(buf, sizeof(buf), "w");
	PT_CHECK(f && probe_report_json(f, &env, rs, 2) == 0, "JSON written");
	if (f)
		fclose(f);
	PT_CHECK(json_valid(buf) && strstr(buf, "\"host_paging\": \"shadow paging\",") != NULL,
		 "so does the JSON:\n%s", buf);
	f = fmemopen(buf, sizeof(buf), "w");
	PT_CHECK(f && probe_report_markdown(f, &env, rs, 1) == 0, "Markdown written");
	if (f)
		fclose(f);
	PT_CHECK(strstr(buf, "- host paging: not classified") != NULL,
		 "without experiment 9 the header says so:\n%s", buf);
}

/* Markdown of one result into buf. */
static void markdown_of(const struct probe_result *r, char *buf, size_t len)
{
	struct probe_env env;
	probe_env_collect(&env);
	FILE *f = fmemopen(buf, len, "w");
	PT_CHECK(f && probe_report_markdown(f, &env, r, 1) == 0, "Markdown written");
	if (f)
		fclose(f);
}

static void test_explain(void)
{
	static struct probe_result r;
	static char buf[1 << 16];
	probe_result_init(&r, probe_find("fault-path"));
	probe_ev_str(&r, "kernel_release", "%s", "9.9.9-test");
	probe_ev_str(&r, "anon_write.deepest_path", "%s", "handle_mm_fault > test_lookup_path");
	probe_verdict(&r, PROBE_CONCLUSIVE, "found");
	markdown_of(&r, buf, sizeof(buf));
	const char *prose = strstr(buf, "How a process finds a page another process created");
	const char *table = strstr(buf, "| evidence | value |");
	PT_CHECK(prose && table && prose < table, "the prose comes before the evidence:\n%s", buf);
	PT_CHECK(strstr(buf, "(kernel 9.9.9-test;") &&
		     strstr(buf, "`handle_mm_fault > test_lookup_path`"),
		 "and is built from the evidence");
	PT_CHECK(strstr(buf, "/proc/self/maps shows `not measured`") != NULL,
		 "evidence it lacks reads \"not measured\"");
	probe_verdict(&r, PROBE_UNMEASURABLE, "no samples");
	markdown_of(&r, buf, sizeof(buf));
	PT_CHECK(strstr(buf, "How a process finds") == NULL, "an unmeasurable result has no prose");
}

static void test_markdown(void)
{
	struct run *x = run_probe("--only", "fork-shared", (const char *)NULL);
	PT_CHECK(x->rc == 0, "a Markdown run returns 0");
	PT_CHECK(strncmp(x->out, "# ptbm probe\n", 13) == 0, "it starts with a title");
	const char *table = strstr(x->out, "| # | experiment | verdict | status |");
	const char *row = strstr(x->out, "| 1 | fork-shared | ");
	const char *section = strstr(x->out, "## 1. ");
	PT_CHECK(table && row && section && table < row && row < section,
		 "the verdict table comes before the evidence:\n%s", x->out);
	PT_CHECK(strstr(x->out, "- kernel: Linux ") != NULL, "the kernel is named");
}

/* ---- the runner ---- */

static char leftover_path[256];

static void exp_hang(struct probe_result *r)
{
	/* A peer that would outlive us, and a name to clean up, then hang. */
	pid_t peer = fork();
	if (peer == 0) {
		pause();
		_exit(0);
	}
	probe_ev_int(r, "peer_pid", peer);
	probe_cleanup_add(r, PROBE_CLEAN_PATH, leftover_path, -1);
	for (;;)
		pause();
}

static void exp_killed(struct probe_result *r)
{
	probe_cleanup_add(r, PROBE_CLEAN_PATH, leftover_path, -1);
	probe_ev_str(r, "before_dying", "recorded");
	raise(SIGKILL);
}

static void exp_unmeasurable(struct probe_result *r)
{
	probe_verdict(r, PROBE_UNMEASURABLE, "feature %s missing", "X");
}

static void make_leftover(void)
{
	snprintf(leftover_path, sizeof(leftover_path), "/tmp/ptbm-probe-cli-left-%d",
		 (int)getpid());
	int fd = open(leftover_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

static bool gone(pid_t pid)
{
	for (int i = 0; i < 200; i++) { /* up to 2 s for the kill to land */
		if (kill(pid, 0) != 0 && errno == ESRCH)
			return true;
		waitpid(pid, NULL, WNOHANG);
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static void test_runner(void)
{
	struct probe_result *r = calloc(1, sizeof(*r));
	struct probe_experiment hang = {101, "hang", "hangs", exp_hang, NULL};
	make_leftover();
	probe_run_isolated(&hang, 1.0, r);
	PT_CHECK(r->status == PROBE_FAILED && strstr(r->verdict, "timed out"),
		 "a hung experiment is reported: %s", r->verdict);
	PT_CHECK(r->elapsed_s >= 0.9 && r->elapsed_s < 10, "within its limit (%.2f s)",
		 r->elapsed_s);
	long long peer;
	if (probe_ev_get_int(r, "peer_pid", &peer))
		PT_CHECK(gone((pid_t)peer), "its peer process was killed too");
	else
		PT_CHECK(false, "evidence recorded before the hang survives");
	PT_CHECK(access(leftover_path, F_OK) != 0, "its registered file was removed");

	struct probe_experiment killed = {102, "killed", "dies", exp_killed, NULL};
	make_leftover();
	probe_run_isolated(&killed, 10, r);
	PT_CHECK(r->status == PROBE_FAILED && strstr(r->verdict, "signal 9"),
		 "a killed experiment is reported: %s", r->verdict);
	PT_CHECK(probe_ev_find(r, "before_dying") != NULL, "with the evidence it had");
	PT_CHECK(access(leftover_path, F_OK) != 0, "its registered file was removed");

	struct probe_experiment um = {103, "um", "unmeasurable", exp_unmeasurable, NULL};
	probe_run_isolated(&um, 10, r);
	PT_CHECK(r->status == PROBE_UNMEASURABLE &&
		     strcmp(r->verdict, "not measurable here: feature X missing") == 0,
		 "a verdict passes through the child: %s", r->verdict);
	free(r);
	unlink(leftover_path);
}

int main(void)
{
	test_arguments();
	test_json();
	test_host_paging();
	test_explain();
	test_markdown();
	test_runner();
	struct probe_result none;
	probe_result_init(&none, NULL);
	none.status = PROBE_CONCLUSIVE;
	return pt_finish(&none);
}
