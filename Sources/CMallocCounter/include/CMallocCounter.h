#ifndef LOFT_MALLOC_COUNTER_H
#define LOFT_MALLOC_COUNTER_H

// A malloc counter for tests: the test executable that links this target defines malloc, calloc,
// realloc and the aligned allocators itself (the executable's symbols win over libc's for every
// library in the process), counts each call and its bytes, and forwards to glibc. Linked into the
// test bundle only.

/// Calls to malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign since the process started.
long loft_malloc_calls(void);
/// Bytes they asked for.
long loft_malloc_bytes(void);
/// Whether this executable's malloc is the one the process calls (1) or libc's is (0).
int loft_malloc_counter_active(void);

#endif
