#include "CKernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#include <limits.h>

void loft_keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
}
#else
void loft_keep_freed_memory(void) {}
#endif
