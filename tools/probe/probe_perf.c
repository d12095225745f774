/*
 * probe_perf.c - sample this thread's kernel call chains, name them from kallsyms.
 *
 * perf_event_open(2) is called directly (glibc has no wrapper).  The ring
 * buffer protocol (include/uapi/linux/perf_event.h): the first mapped page
 * is struct perf_event_mmap_page; records follow in the data pages, the
 * kernel advances data_head, the reader consumes up to it and stores
 * data_tail.  A record that does not fit is dropped and counted in a
 * PERF_RECORD_LOST record instead.
 */
#include "probe_perf.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RING_DATA_PAGES 512  /* 2 MiB of 4 KiB pages: about 10000 samples */
#define MAX_RECORD	4096 /* bytes: a 127-frame chain is about 1 KiB */

static int cmp_ksym(const void *a, const void *b)
{
	const struct probe_ksym *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Append name to k->names; 0 or -ENOMEM. */
static int add_name(struct probe_ksyms *k, size_t *cap, const char *name, uint32_t *off)
{
	size_t len = strlen(name) + 1;
	if (k->names_len + len > *cap) {
		size_t ncap = *cap ? *cap * 2 : 1 << 20;
		char *p = realloc(k->names, ncap);
		if (!p)
			return -ENOMEM;
		k->names = p;
		*cap = ncap;
	}
	memcpy(k->names + k->names_len, name, len);
	*off = (uint32_t)k->names_len;
	k->names_len += len;
	return 0;
}

int probe_ksyms_load(struct probe_ksyms *k)
{
	memset(k, 0, sizeof(*k));
	FILE *f = fopen("/proc/kallsyms", "re");
	if (!f)
		return -errno;
	size_t sym_cap = 0, names_cap = 0, nonzero = 0;
	char line[512];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256];
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (k->n == sym_cap) {
			size_t ncap = sym_cap ? sym_cap * 2 : 65536;
			struct probe_ksym *p = realloc(k->sym, ncap * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			k->sym = p;
			sym_cap = ncap;
		}
		struct probe_ksym *s = &k->sym[k->n];
		s->addr = addr;
		rc = add_name(k, &names_cap, name, &s->name_off);
		if (rc == 0) {
			k->n++;
			nonzero += addr != 0;
		}
	}
	fclose(f);
	if (rc == 0 && k->n == 0)
		rc = -ENOENT;
	else if (rc == 0 && nonzero == 0)
		rc = -EPERM;
	if (rc < 0) {
		probe_ksyms_free(k);
		return rc;
	}
	qsort(k->sym, k->n, sizeof(*k->sym), cmp_ksym);
	return 0;
}

void probe_ksyms_free(struct probe_ksyms *k)
{
	free(k->sym);
	free(k->names);
	memset(k, 0, sizeof(*k));
}

long probe_ksyms_find(const struct probe_ksyms *k, uint64_t ip)
{
	if (k->n == 0 || ip < k->sym[0].addr)
		return -1;
	size_t lo = 0, hi = k->n; /* sym[lo].addr <= ip < sym[hi].addr */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (k->sym[mid].addr <= ip)
			lo = mid;
		else
			hi = mid;
	}
	return (long)lo;
}

int probe_ksyms_is(const struct probe_ksyms *k, long i, const char *fn)
{
	const char *name = probe_ksyms_name(k, i);
	size_t len = strlen(fn);
	return strncmp(name, fn, len) == 0 && (name[len] == '\0' || name[len] == '.');
}

int probe_sampler_open(struct probe_sampler *s, uint64_t period_ns)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.sample_period = period_ns;
	a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN;
	a.disabled = 1;
	a.exclude_user = 1; /* kernel samples only */
	a.exclude_hv = 1;
	a.exclude_callchain_user = 1;
	int fd = (int)syscall(SYS_perf_event_open, &a, 0 /* this thread */, -1 /* any CPU */, -1,
			      PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = (size_t)(1 + RING_DATA_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
	void *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED) {
		int err = errno;
		close(fd);
		return -err;
	}
	s->fd = fd;
	s->ring = ring;
	s->ring_len = len;
	s->period_ns = period_ns;
	return 0;
}

int probe_sampler_enable(struct probe_sampler *s)
{
	return ioctl(s->fd, PERF_EVENT_IOC_ENABLE, 0) == 0 ? 0 : -errno;
}

int probe_sampler_disable(struct probe_sampler *s)
{
	return ioctl(s->fd, PERF_EVENT_IOC_DISABLE, 0) == 0 ? 0 : -errno;
}

long probe_sampler_drain(struct probe_sampler *s,
			 void (*fn)(const uint64_t *ips, size_t n, void *arg), void *arg)
{
	struct perf_event_mmap_page *meta = s->ring;
	const unsigned char *data = (const unsigned char *)s->ring + sysconf(_SC_PAGESIZE);
	size_t size = s->ring_len - (size_t)sysconf(_SC_PAGESIZE);
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = meta->data_tail;
	static uint64_t rec_words[MAX_RECORD / 8]; /* aligned for the u64 fields */
	unsigned char *rec = (unsigned char *)rec_words;
	uint64_t ips[PERF_MAX_STACK_DEPTH];
	long samples = 0;
	while (tail < head) {
		struct perf_event_header h;
		for (size_t i = 0; i < sizeof(h); i++)
			((unsigned char *)&h)[i] = data[(tail + i) % size];
		if (h.size < sizeof(h))
			break; /* corrupt: give up on the rest */
		if (h.size <= sizeof(rec_words)) {
			for (size_t i = 0; i < h.size; i++)
				rec[i] = data[(tail + i) % size];
			const uint64_t *body = (const uint64_t *)(rec + sizeof(h));
			if (h.type == PERF_RECORD_SAMPLE && h.size >= sizeof(h) + 16) {
				/* PERF_SAMPLE_IP, then PERF_SAMPLE_CALLCHAIN: nr, ips[nr] */
				uint64_t nr = body[1];
				size_t n = 0;
				for (uint64_t i = 0;
				     i < nr && sizeof(h) + 16 + (i + 1) * 8 <= h.size &&
				     n < PERF_MAX_STACK_DEPTH;
				     i++)
					if (body[2 + i] < PERF_CONTEXT_MAX)
						ips[n++] = body[2 + i];
				samples++;
				fn(ips, n, arg);
			} else if (h.type == PERF_RECORD_LOST && h.size >= sizeof(h) + 16) {
				s->lost += body[1]; /* id, lost */
			}
		}
		tail += h.size;
	}
	__atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
	return samples;
}

void probe_sampler_close(struct probe_sampler *s)
{
	if (s->ring)
		munmap(s->ring, s->ring_len);
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
