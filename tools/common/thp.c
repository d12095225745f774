/*
 * thp.c - reading a transparent_hugepage setting (thp.h).
 */
#include "thp.h"

#include <stdio.h>
#include <string.h>

void thp_choice(const char *file, char *out, size_t len)
{
	char path[256], line[256] = "";
	snprintf(path, sizeof path, "/sys/kernel/mm/transparent_hugepage/%s", file);
	out[0] = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(line, sizeof line, f))
		line[0] = 0;
	fclose(f);
	line[strcspn(line, "\n")] = 0;
	char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
	const char *v = line;
	if (a && b) {
		*b = 0;
		v = a + 1;
	}
	snprintf(out, len, "%s", v);
}

void thp_shmem_of_size(size_t bytes, char *out, size_t len)
{
	char file[64];
	snprintf(file, sizeof file, "hugepages-%zukB/shmem_enabled", bytes >> 10);
	thp_choice(file, out, len);
}
