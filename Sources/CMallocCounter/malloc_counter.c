#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include "CMallocCounter.h"

// glibc's own entry points (exported since glibc 2.0), so the counting wrappers never recurse.
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

static atomic_long calls, bytes;

static inline void count_call(size_t size) {
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes, (long)size, memory_order_relaxed);
}

void *malloc(size_t size) { count_call(size); return __libc_malloc(size); }
void free(void *pointer) { __libc_free(pointer); }

void *calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) total = (size_t)-1;
    count_call(total);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) { count_call(size); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { count_call(size); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count_call(size); return __libc_memalign(alignment, size); }

int posix_memalign(void **result, size_t alignment, size_t size) {
    count_call(size);
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return 22;  // EINVAL
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return 12;  // ENOMEM
    *result = pointer;
    return 0;
}

long loft_malloc_calls(void) { return atomic_load_explicit(&calls, memory_order_relaxed); }
long loft_malloc_bytes(void) { return atomic_load_explicit(&bytes, memory_order_relaxed); }

int loft_malloc_counter_active(void) {
    long before = loft_malloc_calls();
    void *volatile probe = strdup("x");  // libc's strdup calls malloc through the process's symbol
    free(probe);
    return loft_malloc_calls() > before;
}
