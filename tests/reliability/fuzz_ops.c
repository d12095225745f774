/*
 * Description: libFuzzer target for the operation sequence. The model-based
 * test (model.c, included below) takes every choice from a seed;
 * here each choice is read from the input bytes instead: the sharing mode
 * (first byte), the budget, eviction batch and I/O mode, then operation
 * after operation with its page ids, offsets, lengths, versions and
 * injected faults, until the bytes run out (at most MAX_OPS operations).
 * The choices include invalid ones: ids beyond max_pages or not allocated,
 * unfix without fix, double unfix, mark_dirty without the exclusive latch,
 * offsets and lengths past the page, stale versions, NULL pointers, counts
 * past max_pages. The invariants are the model's: no crash (ASan, UBSan),
 * every error the documented code for what was asked, every read the
 * model's bytes, no frame leaked; a broken one aborts, and libFuzzer saves
 * the input. Each input starts from an empty data file, in a scratch
 * directory on tmpfs (/dev/shm) so that flushes cost little.
 *
 * Build and run: scripts/fuzz.sh [SECONDS] (clang, build-fuzz/).
 */
#define MODEL_NO_MAIN
#include "model.c"

#include <ftw.h>

#define MAX_OPS	  256
#define MAX_PAGES 48 /* small: random ids often hit allocated pages */

static struct model fm;
static char fuzz_dir[64];

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

static void clean_up(void)
{
	model_fini(&fm);
	if (fuzz_dir[0])
		nftw(fuzz_dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(fuzz_dir, sizeof fuzz_dir, "/dev/shm/ptbm-fuzz-XXXXXX");
	if (!mkdtemp(fuzz_dir)) {
		perror("fuzz_ops: mkdtemp");
		abort();
	}
	atexit(clean_up);
	int rc = model_init(&fm, PTBM_SHARE_THREADS, 4096, MAX_PAGES, fuzz_dir);
	if (rc < 0) {
		fprintf(stderr, "fuzz_ops: set-up: %s\n", ptbm_strerror(rc));
		abort();
	}
	fm.fuzz = true;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fm.share = data[0] & 1 ? PTBM_SHARE_PROCESSES : PTBM_SHARE_THREADS;
	fm.bytes = data + 1;
	fm.n_bytes = size - 1;
	fm.at = 0;
	fm.exhausted = false;
	fm.op_no = 0;
	if (model_start(&fm) < 0)
		abort();
	while (!fm.exhausted && fm.op_no < MAX_OPS)
		model_step(&fm);
	check_frames(&fm);
	model_close(&fm);
	return 0;
}
