#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include "CKernels.h"
#include "memory_internal.h"

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

void *loft_reserve_aligned(void **buffer, size_t *capacity, size_t bytes) {
    if (bytes > *capacity) {
        free(*buffer);
        *buffer = aligned_alloc(64, ((bytes + 63) / 64) * 64);
        *capacity = *buffer ? bytes : 0;
    }
    return *buffer;
}

static _Thread_local void *thread_scratch;
static _Thread_local size_t thread_scratch_capacity;

float *loft_thread_scratch(long count) {
    return loft_reserve_aligned(&thread_scratch, &thread_scratch_capacity, (size_t)(count < 1 ? 1 : count) * sizeof(float));
}
