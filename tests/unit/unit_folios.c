/*
 * Description: shmem folios larger than a page. The settings are read as
 * the kernel reads them: each hugepages-<size>/shmem_enabled for anonymous
 * shmem (always and within_size allow their size, inherit follows the top
 * level, advise and never do not), the top level's deny and force over
 * everything, a kernel without per-size files by the top level, a tmpfs
 * file by its mount's huge= option; a missing folder means base pages. A vm
 * pool whose shmem frames could get folios larger than its pages opens in
 * processes mode with its frames in base pages (advised MADV_NOHUGEPAGE,
 * the nh of its smaps VmFlags, still shmem) and reads back what it wrote;
 * a process attaching to it advises its own mapping likewise, and one
 * attaching to a pool made with huge extents under other settings gets
 * PTBM_EFOLIO; in threads mode such a pool opens in private memory
 * instead; folios of the page's own size, and the hash engine, get no
 * advice. Where folios no larger than the page come only to a mapping that
 * asks (a size at advise), an anonymous processes-mode pool asks
 * (MADV_HUGEPAGE, the hg of its VmFlags); not for 4 KiB pages, not where
 * asking would bring 2 MiB folios too, not for a named pool's file. A vm pool's private frames are
 * advised MADV_NOHUGEPAGE, so no setting gives them a folio larger than a page (read off this
 * process's smaps). The pools read fake settings (the tests' library's seam), never the host's.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PMD (2u << 20)

/* ---- a fake transparent_hugepage folder ------------------------------------ */

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* "always within_size advise [never] deny force" with choice chosen */
static void choice(const char *dir, const char *sub, const char *chosen)
{
	static const char *words[] = {"always", "inherit", "within_size", "advise",
				      "never",	"deny",	   "force"};
	char path[512], text[256] = "";
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		char w[32];
		snprintf(w, sizeof w, strcmp(words[i], chosen) ? "%s " : "[%s] ", words[i]);
		strcat(text, w);
	}
	strcat(text, "\n");
	if (sub) {
		snprintf(path, sizeof path, "%s/%s", dir, sub);
		mkdir(path, 0700);
		snprintf(path, sizeof path, "%s/%s/shmem_enabled", dir, sub);
	} else {
		snprintf(path, sizeof path, "%s/shmem_enabled", dir);
	}
	put(path, text);
}

/* A fresh folder with hpage_pmd_size and the top-level choice. */
static const char *thp_dir(const char *name, const char *top)
{
	char path[512];
	snprintf(path, sizeof path, "thp-%s", name);
	const char *dir = tu_path(path);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof path, "%s/hpage_pmd_size", dir);
	put(path, "2097152\n");
	choice(dir, NULL, top);
	return dir;
}

static uint64_t anon_max(const char *dir, char *why, size_t len)
{
	struct ptbm_thp_source src = {dir, "/nonexistent"};
	return ptbm_shmem_folio_max(src, true, false, "/dev/shm", why, len);
}

/* The same in a mapping advised MADV_HUGEPAGE. */
static uint64_t anon_asked(const char *dir, char *why, size_t len)
{
	struct ptbm_thp_source src = {dir, "/nonexistent"};
	return ptbm_shmem_folio_max(src, true, true, "/dev/shm", why, len);
}

static void test_anon_settings(void **state)
{
	(void)state;
	char why[256];
	/* no such folder: no THP, base pages */
	assert_int_equal(anon_max(tu_path("none"), why, sizeof why), 4096);
	assert_string_equal(why, "");

	/* the defaults: never at the top, per-size never, PMD inherit */
	const char *d = thp_dir("defaults", "never");
	choice(d, "hugepages-8kB", "never");
	choice(d, "hugepages-16kB", "never");
	choice(d, "hugepages-2048kB", "inherit");
	assert_int_equal(anon_max(d, why, sizeof why), 4096);

	/* one size on: that size, named */
	choice(d, "hugepages-8kB", "always");
	assert_int_equal(anon_max(d, why, sizeof why), 8192);
	assert_non_null(strstr(why, "hugepages-8kB/shmem_enabled = always"));
	choice(d, "hugepages-16kB", "within_size");
	assert_int_equal(anon_max(d, why, sizeof why), 16384);
	assert_non_null(strstr(why, "hugepages-16kB"));
	/* advise needs MADV_HUGEPAGE, which frames never get */
	choice(d, "hugepages-16kB", "advise");
	assert_int_equal(anon_max(d, NULL, 0), 8192);

	/* inherit follows the top level */
	choice(d, NULL, "always");
	assert_int_equal(anon_max(d, why, sizeof why), PMD);
	assert_non_null(strstr(why, "hugepages-2048kB/shmem_enabled = inherit"));
	choice(d, NULL, "advise");
	assert_int_equal(anon_max(d, NULL, 0), 8192);

	/* deny and force over everything */
	choice(d, NULL, "deny");
	assert_int_equal(anon_max(d, NULL, 0), 4096);
	choice(d, NULL, "force");
	assert_int_equal(anon_max(d, why, sizeof why), PMD);
	assert_string_equal(why, "shmem_enabled = force");

	/* advise: in a mapping that asks, and there only */
	const char *a = thp_dir("advise", "never");
	choice(a, "hugepages-8kB", "advise");
	choice(a, "hugepages-2048kB", "inherit");
	assert_int_equal(anon_max(a, NULL, 0), 4096);
	assert_int_equal(anon_asked(a, why, sizeof why), 8192);
	assert_string_equal(why, "hugepages-8kB/shmem_enabled = advise");
	/* the top level's advise reaches a size through inherit */
	choice(a, NULL, "advise");
	assert_int_equal(anon_max(a, NULL, 0), 4096);
	assert_int_equal(anon_asked(a, why, sizeof why), PMD);
	assert_non_null(strstr(why, "hugepages-2048kB/shmem_enabled = inherit"));
	/* always is always, asked or not; deny is deny */
	choice(a, "hugepages-8kB", "always");
	assert_int_equal(anon_max(a, NULL, 0), 8192);
	choice(a, NULL, "deny");
	assert_int_equal(anon_asked(a, NULL, 0), 4096);

	/* a kernel without per-size files: the top level, for PMD folios */
	const char *old = thp_dir("old", "within_size");
	assert_int_equal(anon_max(old, NULL, 0), PMD);
	choice(old, NULL, "advise");
	assert_int_equal(anon_max(old, NULL, 0), 4096);
	assert_int_equal(anon_asked(old, NULL, 0), PMD);
	choice(old, NULL, "never");
	assert_int_equal(anon_max(old, NULL, 0), 4096);
}

static void test_file_settings(void **state)
{
	(void)state;
	char why[256];
	const char *d = thp_dir("files", "never");
	choice(d, "hugepages-16kB", "always"); /* anonymous shmem only */
	const char *mounts = tu_path("mounts");
	struct ptbm_thp_source src = {d, mounts};

	put(mounts, "proc /proc proc rw 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,size=100k 0 0\n");
	assert_int_equal(ptbm_shmem_folio_max(src, false, false, "/dev/shm", why, sizeof why),
			 4096);
	put(mounts, "tmpfs /dev/shm tmpfs rw,huge=advise 0 0\n");
	assert_int_equal(ptbm_shmem_folio_max(src, false, false, "/dev/shm", NULL, 0), 4096);
	assert_int_equal(ptbm_shmem_folio_max(src, false, true, "/dev/shm", why, sizeof why), PMD);
	assert_string_equal(why, "/dev/shm mounted huge=advise");
	put(mounts, "tmpfs /dev/shm tmpfs rw,huge=within_size,size=1g 0 0\n");
	assert_int_equal(ptbm_shmem_folio_max(src, false, false, "/dev/shm", why, sizeof why), PMD);
	assert_string_equal(why, "/dev/shm mounted huge=within_size");
	/* another mount point is not the one */
	put(mounts, "tmpfs /run tmpfs rw,huge=always 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n");
	assert_int_equal(ptbm_shmem_folio_max(src, false, false, "/dev/shm", NULL, 0), 4096);
	/* the last mount at the folder is the one in force */
	put(mounts, "tmpfs /dev/shm tmpfs rw 0 0\ntmpfs /dev/shm tmpfs rw,huge=always 0 0\n");
	assert_int_equal(ptbm_shmem_folio_max(src, false, false, "/dev/shm", NULL, 0), PMD);
	put(mounts, "tmpfs /dev/shm tmpfs rw,huge=always 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n");
	assert_int_equal(ptbm_shmem_folio_max(src, false, false, "/dev/shm", NULL, 0), 4096);
	/* force reaches files too; deny stops the mount's option */
	choice(d, NULL, "force");
	assert_int_equal(ptbm_shmem_folio_max(src, false, false, "/dev/shm", NULL, 0), PMD);
	put(mounts, "tmpfs /dev/shm tmpfs rw,huge=always 0 0\n");
	choice(d, NULL, "deny");
	assert_int_equal(ptbm_shmem_folio_max(src, false, false, "/dev/shm", NULL, 0), 4096);
}

/* ---- pools under such settings ---------------------------------------------- */

/* The VmFlags of the mapping at addr in this process's smaps ("" if none). */
static void vm_flags(const void *addr, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	out[0] = 0;
	assert_non_null(f);
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) { /* a mapping's head */
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, len, "%s", line + 8);
			break;
		}
	}
	fclose(f);
}

/* The VmFlags of this process's mapping of pool's page 0 (allocated). */
static void page0_flags(ptbm_pool *pool, char *flags, size_t len)
{
	void *p;
	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	vm_flags(p, flags, len);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
}

/* Open cfg, allocate page 0 and return its mapping's VmFlags. */
static void page_flags(const struct ptbm_config *cfg, char *flags, size_t len)
{
	ptbm_pool *pool = tu_open(cfg);
	tu_alloc(pool, 1);
	page0_flags(pool, flags, len);
	tu_close(pool);
}

#ifdef PTBM_FAULT_INJECTION
static void plain(void);
#endif

static void test_private_frames_no_huge(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	char flags[512];
#ifdef PTBM_FAULT_INJECTION
	plain(); /* the second pool must get shmem frames on any host */
#endif
	/* PTBM_NO_HUGE: private frames, in base pages whatever THP says */
	tu_config(&cfg, "nohuge");
	cfg.flags |= PTBM_NO_HUGE;
	page_flags(&cfg, flags, sizeof flags);
	assert_non_null(strstr(flags, " nh"));
	assert_null(strstr(flags, " sh"));
	/* a pool with huge extents: shmem, no advice */
	tu_config(&cfg, "huge");
	page_flags(&cfg, flags, sizeof flags);
	assert_non_null(strstr(flags, " sh"));
	assert_null(strstr(flags, " nh"));
}

#ifdef PTBM_FAULT_INJECTION
/* The library reads settings where this process says: anonymous shmem with
 * folios of size kib, /dev/shm mounted with huge (NULL: no option). */
static void pretend_as(const char *name, const char *top, const char *kib, const char *word,
		       const char *huge)
{
	char sub[64], line[128];
	const char *d = thp_dir(name, top);
	snprintf(sub, sizeof sub, "hugepages-%skB", kib);
	if (strcmp(kib, "2048") != 0)
		choice(d, "hugepages-2048kB", "inherit");
	choice(d, sub, word);
	const char *mounts = tu_path("pool-mounts");
	snprintf(line, sizeof line, "tmpfs /dev/shm tmpfs rw%s%s 0 0\n", huge ? ",huge=" : "",
		 huge ? huge : "");
	put(mounts, line);
	ptbm_thp_source_set((struct ptbm_thp_source){d, mounts});
}

static void pretend(const char *name, const char *kib, const char *huge)
{
	pretend_as(name, "never", kib, "always", huge);
}

/* Base pages only, whatever this host's settings are. */
static void plain(void)
{
	ptbm_thp_source_set((struct ptbm_thp_source){tu_path("no-thp"), tu_path("no-mounts")});
}

/* A processes-mode pool under the settings pretended: it opens, its frames
 * are shmem advised as `what` says ("nh", "hg" or "": none), and it reads
 * back what it wrote. */
static void advised_pool(struct ptbm_config *cfg, const char *what)
{
	char flags[512];
	page_flags(cfg, flags, sizeof flags);
	assert_non_null(strstr(flags, " sh"));
	assert_true(!strstr(flags, " nh") == !!strcmp(what, "nh"));
	assert_true(!strstr(flags, " hg") == !!strcmp(what, "hg"));
	ptbm_pool *pool = tu_open(cfg);
	tu_alloc(pool, 4);
	assert_rc(tu_write(pool, 3, 7), 0);
	assert_rc(tu_verify(pool, 3, 7), 0);
	tu_close(pool);
}

static void test_processes_base_folios(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	tu_config(&cfg, "base");
	cfg.page_size = 8192;
	cfg.budget_bytes = 64 * 8192;
	cfg.share = PTBM_SHARE_PROCESSES;
	/* 16 KiB folios for 8 KiB pages: base pages instead */
	pretend("base", "16", NULL);
	advised_pool(&cfg, "nh");
	/* a named pool's object is a file in /dev/shm: its mount decides */
	cfg.name = tu_shm_name("base");
	advised_pool(&cfg, "");
	pretend("base-named", "4", "within_size");
	advised_pool(&cfg, "nh");
	/* folios of the page's own size are freed whole: no advice */
	pretend("page-size", "8", NULL);
	cfg.name = NULL;
	advised_pool(&cfg, "");
	/* the hash engine never releases a frame: no advice either */
	pretend("hash", "16", NULL);
	cfg.engine = PTBM_ENGINE_HASH;
	tu_close(tu_open(&cfg));
	plain();
}

static void test_threads_fall_back(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	char flags[512];
	pretend("fallback", "2048", NULL);
	tu_config(&cfg, "fallback");
	page_flags(&cfg, flags, sizeof flags);
	/* private memory in base pages, as with PTBM_NO_HUGE */
	assert_non_null(strstr(flags, " nh"));
	assert_null(strstr(flags, " sh"));
	plain();
}

/* Attach to the pool called name and return the attached mapping's
 * VmFlags, or ptbm_attach's error. */
static int attach_flags(const char *name, char *flags, size_t len)
{
	ptbm_pool *other = NULL;
	int rc = ptbm_attach(name, &other);
	if (rc < 0) {
		assert_null(other);
		return rc;
	}
	page0_flags(other, flags, len);
	tu_close(other);
	return 0;
}

static void test_attach(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	char flags[512];
	tu_config(&cfg, "attach");
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.name = tu_shm_name("attach");
	plain();
	ptbm_pool *pool = tu_open(&cfg);
	tu_alloc(pool, 1);
	/* /dev/shm remounted with huge=always after a pool with huge extents
	 * was made: the pool cannot keep both, refused */
	pretend("attach", "8", "always");
	assert_rc(attach_flags(cfg.name, flags, sizeof flags), PTBM_EFOLIO);
	plain();
	assert_rc(attach_flags(cfg.name, flags, sizeof flags), 0);
	assert_null(strstr(flags, " nh"));
	tu_close(pool);

	/* a pool without huge extents: the attached mapping in base pages */
	cfg.flags |= PTBM_NO_HUGE;
	pool = tu_open(&cfg);
	tu_alloc(pool, 1);
	pretend("attach-nohuge", "8", "always");
	assert_rc(attach_flags(cfg.name, flags, sizeof flags), 0);
	assert_non_null(strstr(flags, " nh"));
	tu_close(pool);
	/* one made under such settings: the same */
	cfg.flags &= ~(uint32_t)PTBM_NO_HUGE;
	pool = tu_open(&cfg);
	tu_alloc(pool, 1);
	assert_rc(attach_flags(cfg.name, flags, sizeof flags), 0);
	assert_non_null(strstr(flags, " nh"));
	tu_close(pool);
	plain();
}

static void test_page_folios_asked(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	char flags[512];
	tu_config(&cfg, "asked");
	cfg.page_size = 8192;
	cfg.budget_bytes = 64 * 8192;
	cfg.share = PTBM_SHARE_PROCESSES;
	/* 8 KiB folios for a mapping that asks: 8 KiB pages ask (hg) */
	pretend_as("asked", "never", "8", "advise", NULL);
	advised_pool(&cfg, "hg");
	/* a named pool's object is a file, whose folios follow its mount,
	 * where advise means 2 MiB: no asking, in its creator or a process
	 * attaching */
	cfg.name = tu_shm_name("asked");
	ptbm_pool *pool = tu_open(&cfg);
	tu_alloc(pool, 1);
	page0_flags(pool, flags, sizeof flags);
	assert_null(strstr(flags, " hg"));
	assert_rc(attach_flags(cfg.name, flags, sizeof flags), 0);
	assert_null(strstr(flags, " hg"));
	tu_close(pool);
	cfg.name = NULL;
	/* 4 KiB pages: 8 KiB folios would be larger, no asking */
	cfg.page_size = 4096;
	advised_pool(&cfg, "");
	/* a mapping that asks would get 2 MiB folios too (the top level's
	 * advise, inherited): no asking */
	cfg.page_size = 8192;
	pretend_as("asked-pmd", "advise", "8", "advise", NULL);
	advised_pool(&cfg, "");
	plain();
}

#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_anon_settings),	   cmocka_unit_test(test_file_settings),
	    cmocka_unit_test(test_private_frames_no_huge),
#ifdef PTBM_FAULT_INJECTION
	    cmocka_unit_test(test_processes_base_folios),  cmocka_unit_test(test_page_folios_asked),
	    cmocka_unit_test(test_threads_fall_back),	   cmocka_unit_test(test_attach),
#endif
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
