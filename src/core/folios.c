/*
 * folios.c - the largest folio a fault may allocate in shmem frames, from
 * the transparent_hugepage settings (Linux 6.18, mm/shmem.c,
 * shmem_allowable_huge_orders):
 *
 *   shmem_enabled (top level)  deny: base pages only, whatever else says;
 *                              force: huge folios everywhere.
 *   anonymous shmem            each hugepages-<size>/shmem_enabled: always
 *                              or within_size allow that size; inherit
 *                              follows the top level (always, within_size);
 *                              advise allows it in a mapping advised
 *                              MADV_HUGEPAGE (advised), and so does the top
 *                              level's advise through inherit. A kernel
 *                              without the per-size files follows the top
 *                              level for PMD-size folios.
 *   a tmpfs file               the mount's huge= option: always or
 *                              within_size allow PMD-size folios, advise
 *                              too in an advised mapping.
 *
 * A setting that cannot be read counts as never: the kernel has no such
 * feature, or no transparent huge pages at all.
 */
#include "core/folios.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_PAGE 4096u

#ifdef PTBM_FAULT_INJECTION
static struct ptbm_thp_source test_source;

void ptbm_thp_source_set(struct ptbm_thp_source src)
{
	test_source = src;
}
#endif

struct ptbm_thp_source ptbm_thp_system(void)
{
	struct ptbm_thp_source s = {"/sys/kernel/mm/transparent_hugepage", "/proc/self/mounts"};
#ifdef PTBM_FAULT_INJECTION
	if (test_source.thp_dir)
		s.thp_dir = test_source.thp_dir;
	if (test_source.mounts)
		s.mounts = test_source.mounts;
#endif
	return s;
}

/* The [chosen] word of a sysfs choice file, or "" if there is none. */
static void read_choice(const char *dir, const char *name, char *out, size_t len)
{
	char path[512], line[256];
	out[0] = 0;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(line, sizeof line, f)) {
		char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
		if (a && b) {
			*b = 0;
			snprintf(out, len, "%s", a + 1);
		}
	}
	fclose(f);
}

static uint64_t pmd_bytes(const char *dir)
{
	char path[512];
	unsigned long long v = 0;
	snprintf(path, sizeof path, "%s/hpage_pmd_size", dir);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? v : 2u << 20;
}

static bool allows(const char *choice, bool advised)
{
	return !strcmp(choice, "always") || !strcmp(choice, "within_size") ||
	       (advised && !strcmp(choice, "advise"));
}

#define WHY_BYTES 1024

/* A larger folio allowed: keep it, and the setting that allows it. */
static void take(uint64_t *max, uint64_t bytes, char *why, const char *fmt, const char *a,
		 const char *b)
{
	if (bytes <= *max)
		return;
	*max = bytes;
	snprintf(why, WHY_BYTES, fmt, a, b);
}

/* Anonymous shmem: the per-size settings. */
static void anon_sizes(const char *dir, const char *top, bool advised, uint64_t pmd, uint64_t *max,
		       char *why)
{
	DIR *d = opendir(dir);
	bool per_size = false;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		unsigned long kib;
		char tail[8], sub[600], choice[32];
		if (sscanf(e->d_name, "hugepages-%lukB%7s", &kib, tail) != 1)
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
		read_choice(sub, "shmem_enabled", choice, sizeof choice);
		if (!choice[0])
			continue;
		per_size = true;
		if (allows(choice, advised))
			take(max, (uint64_t)kib << 10, why, "%s/shmem_enabled = %s", e->d_name,
			     choice);
		else if (!strcmp(choice, "inherit") && allows(top, advised))
			take(max, (uint64_t)kib << 10, why,
			     "%s/shmem_enabled = inherit, shmem_enabled = %s", e->d_name, top);
	}
	if (d)
		closedir(d);
	if (!per_size && allows(top, advised))
		take(max, pmd, why, "shmem_enabled = %s", top, "");
}

/* A tmpfs file: the huge= option of the mount at shm_dir. */
static void mount_option(const char *mounts, const char *shm_dir, bool advised, uint64_t pmd,
			 uint64_t *max, char *why)
{
	FILE *f = fopen(mounts, "re");
	char line[1024];
	while (f && fgets(line, sizeof line, f)) {
		char dev[256], at[512], type[64], opts[512];
		if (sscanf(line, "%255s %511s %63s %511s", dev, at, type, opts) != 4 ||
		    strcmp(at, shm_dir) != 0 || strcmp(type, "tmpfs") != 0)
			continue;
		*max = BASE_PAGE; /* the last mount at shm_dir is the one seen */
		why[0] = 0;
		for (char *o = strtok(opts, ","); o; o = strtok(NULL, ","))
			if (!strncmp(o, "huge=", 5) && allows(o + 5, advised))
				take(max, pmd, why, "%s mounted %s", shm_dir, o);
	}
	if (f)
		fclose(f);
}

uint64_t ptbm_shmem_folio_max(struct ptbm_thp_source src, bool anon, bool advised,
			      const char *shm_dir, char *why, size_t len)
{
	char top[32], said[WHY_BYTES] = "";
	uint64_t max = BASE_PAGE;
	read_choice(src.thp_dir, "shmem_enabled", top, sizeof top);
	if (!top[0] || !strcmp(top, "deny")) {
		/* base pages only */
	} else if (!strcmp(top, "force")) {
		take(&max, pmd_bytes(src.thp_dir), said, "shmem_enabled = %s", top, "");
	} else if (anon) {
		anon_sizes(src.thp_dir, top, advised, pmd_bytes(src.thp_dir), &max, said);
	} else {
		mount_option(src.mounts, shm_dir, advised, pmd_bytes(src.thp_dir), &max, said);
	}
	if (len)
		snprintf(why, len, "%s", said);
	return max;
}
