// Helpers shared by the kernels' C files; not part of the CKernels module's public header.
#pragma once
#include <stddef.h>

/// Grows `*buffer` (64-byte aligned, freed and reallocated without copying) to hold at least
/// `bytes`, keeping it when it already does; returns it, or NULL (capacity 0) when out of memory.
/// For buffers a thread keeps across calls (`_Thread_local` pointer and capacity).
void *loft_reserve_aligned(void **buffer, size_t *capacity, size_t bytes);
