#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include "CKernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#include <limits.h>

void loft_keep_freed_memory(void) {
    // M_MMAP_THRESHOLD cannot exceed 32 MiB, so large buffers (logits, activations) would still be
    // mapped and unmapped each time: turn mmap off and never trim the heap instead.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    mallopt(M_TOP_PAD, 64 << 20);
}
#else
void loft_keep_freed_memory(void) {}
#endif


int loft_available_cpus(void) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}

static __thread float *thread_scratch;
static __thread long thread_scratch_capacity;

float *loft_thread_scratch(long count) {
    if (count < 1) count = 1;
    if (count > thread_scratch_capacity) {
        free(thread_scratch);
        void *grown = NULL;
        if (posix_memalign(&grown, 64, (size_t)count * sizeof(float)) != 0) grown = NULL;
        thread_scratch = grown;
        thread_scratch_capacity = grown ? count : 0;
    }
    return thread_scratch;
}
