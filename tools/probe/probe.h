/*
 * probe.h - `ptbm probe`: ask the running kernel the questions PT-BM stands on.
 *
 * PT-BM uses the OS page table as its buffer table, so it depends on how Linux
 * shares, maps, faults and frees pages.  Those facts change across kernels and
 * configurations, so instead of trusting a document, `ptbm probe` runs one
 * experiment per question in a fresh child process and reports a verdict
 * computed from what the experiment measured, with the evidence.
 *
 * Principal entry points:
 *
 *   ptbm_probe_main()      the `ptbm probe [--json] [--only NAME]` command.
 *   probe_experiments[]    the experiment table: id, short name, title, run().
 *   probe_find()           look an experiment up by id number or short name.
 *   probe_run_isolated()   run one experiment in a forked child with a timeout,
 *                          then run its registered clean-ups, whatever happened.
 *   probe_exp_*()          the experiments themselves; each fills a
 *                          struct probe_result and can be called directly (the
 *                          tests do), in any process that may fork.
 *
 * A result never carries a hard-coded answer: every verdict string is chosen
 * by comparing measured evidence with what each possible kernel behaviour
 * would produce.  Evidence the machine cannot give (PFNs without privilege, a
 * missing ioctl) is recorded as "not measurable: <reason>" and the verdict is
 * built from the rest, or is PROBE_UNMEASURABLE when nothing is left.
 *
 * The result structure has no pointers into the heap, so a child can fill it in
 * shared memory and the parent can copy it out after the child has gone.
 */
#ifndef PTBM_PROBE_H
#define PTBM_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Run `ptbm probe`.  argv[0] is "probe"; the options follow it:
 *   --json          machine-readable output instead of Markdown
 *   --only NAME     run one experiment (id number or short name); repeatable
 *   --timeout SEC   per-experiment time limit (default 60)
 *   --list          list the experiments and exit
 * Returns 0 when the probe ran (whatever the verdicts), 2 for bad arguments
 * (with a message on stderr), 1 when output could not be written.
 */
int ptbm_probe_main(int argc, char **argv);

enum probe_status {
	PROBE_CONCLUSIVE = 0, /* the evidence supports the verdict */
	PROBE_INCONCLUSIVE,   /* measured, but the evidence fits no known behaviour */
	PROBE_UNMEASURABLE,   /* this machine cannot measure it (privilege, feature) */
	PROBE_FAILED,	      /* the experiment broke: syscall error, crash, timeout */
};

enum probe_value_kind {
	PROBE_V_STR = 0, /* free text, quoted in JSON */
	PROBE_V_INT,	 /* integer, bare in JSON */
	PROBE_V_NUM,	 /* real number, bare in JSON */
	PROBE_V_BOOL,	 /* true / false, bare in JSON */
};

#define PROBE_MAX_EVIDENCE 128 /* evidence entries per experiment */
#define PROBE_KEY_LEN	   48  /* bytes of an evidence key, NUL included */
#define PROBE_VALUE_LEN	   200 /* bytes of a rendered evidence value */
#define PROBE_VERDICT_LEN  320 /* bytes of a verdict string */
#define PROBE_MAX_CLEANUP  8   /* names an experiment may leave behind */
#define PROBE_NAME_LEN	   256 /* bytes of a clean-up path or shm name */

struct probe_evidence {
	char key[PROBE_KEY_LEN];     /* snake_case, unique within a result */
	char value[PROBE_VALUE_LEN]; /* rendered value: text, or a number's digits */
	enum probe_value_kind kind;  /* how JSON prints value */
};

enum probe_cleanup_kind {
	PROBE_CLEAN_NONE = 0, /* unused slot */
	PROBE_CLEAN_PATH,     /* unlink(name) */
	PROBE_CLEAN_SHM,      /* shm_unlink(name) */
	PROBE_CLEAN_SYSV,     /* shmctl(sysv_id, IPC_RMID) */
};

struct probe_cleanup {
	enum probe_cleanup_kind kind; /* what to do; NONE once done */
	int sysv_id;		      /* SysV segment id for PROBE_CLEAN_SYSV */
	char name[PROBE_NAME_LEN];    /* path or POSIX shm name */
};

struct probe_result {
	int id;				 /* experiment number, 1-based */
	const char *name;		 /* short name (static storage of the binary) */
	const char *title;		 /* the question asked (static storage) */
	enum probe_status status;	 /* how far the evidence goes */
	char verdict[PROBE_VERDICT_LEN]; /* short, specific, computed */
	double elapsed_s;		 /* wall time of the run, set by the runner */
	size_t n_evidence;		 /* entries used in evidence[] */
	bool evidence_truncated;	 /* an entry did not fit */
	struct probe_evidence evidence[PROBE_MAX_EVIDENCE];
	size_t n_cleanup; /* entries used in cleanup[] */
	struct probe_cleanup cleanup[PROBE_MAX_CLEANUP];
};

struct probe_experiment {
	int id;				     /* 1-based, the order of the report */
	const char *name;		     /* short name for --only */
	const char *title;		     /* the question */
	void (*run)(struct probe_result *r); /* fills status, verdict, evidence */
	/* Prose for the Markdown report explaining the answer from r's
	 * evidence, or NULL: printed after the verdict of a measured result. */
	void (*explain)(FILE *out, const struct probe_result *r);
};

extern const struct probe_experiment probe_experiments[];
extern const size_t probe_n_experiments;

/* The experiment whose id ("3") or short name ("fork-private") is key, or NULL. */
const struct probe_experiment *probe_find(const char *key);

/* Zero r and copy id, name and title from e; status starts as PROBE_FAILED
 * with the verdict "failed: no verdict" until the experiment sets one. */
void probe_result_init(struct probe_result *r, const struct probe_experiment *e);

/*
 * Run e in a forked child (its own process group) and wait at most timeout_s.
 * The child writes the result into shared memory; a child that hangs is killed
 * with its whole process group and reported as "failed: timed out", one that
 * dies is reported with its signal, and in every case the clean-ups the
 * experiment registered are carried out afterwards.  Returns 0, or -errno when
 * the child could not be started (out then says why).
 */
int probe_run_isolated(const struct probe_experiment *e, double timeout_s,
		       struct probe_result *out);

/* Carry out and clear r's registered clean-ups; missing names are fine. */
void probe_cleanup_run(struct probe_result *r);

/* Register a name to remove when the experiment ends, however it ends.
 * Returns 0, or -ENOSPC when the table is full. */
int probe_cleanup_add(struct probe_result *r, enum probe_cleanup_kind kind, const char *name,
		      int sysv_id);

/* Evidence.  A key given twice keeps the first value. */
void probe_ev_int(struct probe_result *r, const char *key, long long v);
void probe_ev_num(struct probe_result *r, const char *key, double v);
void probe_ev_bool(struct probe_result *r, const char *key, bool v);
void probe_ev_str(struct probe_result *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Set the status and verdict.  PROBE_UNMEASURABLE verdicts are prefixed
 * "not measurable here: ", PROBE_FAILED ones "failed: ".
 */
void probe_verdict(struct probe_result *r, enum probe_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record a failed system call: "failed: what: strerror(err)".  err > 0. */
void probe_fail_errno(struct probe_result *r, const char *what, int err);

/* Look evidence up by key; NULL when absent. */
const struct probe_evidence *probe_ev_find(const struct probe_result *r, const char *key);
/* True and *out set when key holds an integer (or a boolean, as 0/1). */
bool probe_ev_get_int(const struct probe_result *r, const char *key, long long *out);
/* True and *out set when key holds a number of either kind. */
bool probe_ev_get_num(const struct probe_result *r, const char *key, double *out);

const char *probe_status_name(enum probe_status s);

/* The experiments, one source file each (exp_<name>.c). */
void probe_exp_fork_shared(struct probe_result *r);   /* 1 */
void probe_exp_shmem_lookup(struct probe_result *r);  /* 2 */
void probe_exp_fork_private(struct probe_result *r);  /* 3 */
void probe_exp_file_mappings(struct probe_result *r); /* 4 */
void probe_exp_shm_family(struct probe_result *r);    /* 5 */
void probe_exp_demand_paging(struct probe_result *r); /* 6 */
void probe_exp_pte_metadata(struct probe_result *r);  /* 7 */
void probe_exp_fault_around(struct probe_result *r);  /* 8 */
void probe_exp_costs(struct probe_result *r);	      /* 9 */
void probe_exp_fault_path(struct probe_result *r);    /* 10 */
void probe_exp_read_speed(struct probe_result *r);    /* 11 */
void probe_exp_after_read(struct probe_result *r);    /* 12 */
void probe_explain_fault_path(FILE *out, const struct probe_result *r);

/*
 * Host paging, told from experiment 9's evidence (exp_costs.c explains the
 * rule).  Three signals vote shadow, nested or neither:
 *   fault_ns           first write touch of a private page, ns of CPU time;
 *   tlb_irqs           TLB-shootdown interrupts during the two-process runs,
 *                      < 0 when the kernel has no TLB row (no vote);
 *   touch_vs_populate  first touch over MADV_POPULATE_WRITE, shared pages.
 * Returns "shadow paging" or "nested paging" when at least two signals vote
 * and none disagrees, else "unclassified"; votes[] (may be NULL) receives
 * "shadow", "nested" or "neither" per signal, in that order.
 */
#define PROBE_PAGING_SIGNALS	       3      /* fault, tlb, populate */
#define PROBE_SHADOW_FAULT_NS_MIN      6000.0 /* a fault dearer than this votes shadow */
#define PROBE_NESTED_FAULT_NS_MAX      4000.0 /* one cheaper than this votes nested */
#define PROBE_SHADOW_POPULATE_GAIN_MIN 4.0    /* touch/populate above: shadow */
#define PROBE_NESTED_POPULATE_GAIN_MAX 2.5    /* below: nested */
const char *probe_host_paging(double fault_ns, long long tlb_irqs, double touch_vs_populate,
			      const char *votes[PROBE_PAGING_SIGNALS]);

/*
 * The host's kind from the two signals one process can measure alone (the
 * fault and populate ones; the TLB one needs two processes on two CPUs),
 * in the same way and by the same rule as experiment 9: both must agree.
 * For tools that print figures and must say which kind of host they came
 * from (`ptbm bench`); about 0.3 s on a nested-paging host, 1 s on a
 * shadow-paging one. 0, or -errno of a call that failed.
 */
struct probe_paging {
	double fault_ns;	  /* first write touch of a private page, CPU ns */
	double touch_vs_populate; /* shared pages: touching over MADV_POPULATE_WRITE */
	const char *kind;	  /* "shadow paging", "nested paging", "unclassified" */
	const char *votes[PROBE_PAGING_SIGNALS];
};
int probe_paging_quick(struct probe_paging *out);

/*
 * Experiment 11 (exp_read_speed.c): what makes some frames read faster.
 * Each variant of memory is one point: its median time per dependent read
 * over the baseline's (private anonymous, 4 KiB pages; ratio <= 0: not
 * measured), the per cent of it mapped by PMD entries, and the per cent in
 * large folios (< 0: unknown).  A variant reads faster when its ratio is
 * below PROBE_READ_FASTER_MAX; it is huge-mapped when PMD entries map at
 * least PROBE_READ_MAPPED_MIN_PCT of it, a PTE-mapped large-folio variant
 * when not but that much of it is in large folios.  The cause:
 *   "physical contiguity"  a PTE-mapped large-folio variant reads faster
 *                          (the TLB merges contiguous PTEs, or the host's
 *                          walk gains from the placement);
 *   "2 MiB mappings"       else a huge-mapped variant reads faster;
 *   "nothing"              else, some such variant having been measured;
 *   "unmeasured"           none was.
 */
#define PROBE_READ_FASTER_MAX	  0.85
#define PROBE_READ_MAPPED_MIN_PCT 50.0
struct probe_read_point {
	double ratio;	  /* time per read over the baseline's; <= 0 not measured */
	double huge_pct;  /* PMD-mapped share, per cent */
	double large_pct; /* share in large folios, per cent; < 0 unknown */
};
const char *probe_read_speed_cause(const struct probe_read_point *v, size_t n);

#endif /* PTBM_PROBE_H */
