// A fork–join pool for Parallel.forEach: `workers − 1` threads started once, which spin briefly
// on the region counter before sleeping on a futex, so a region started within a few hundred
// microseconds of the last one costs no system call and no wake-up. The caller takes part.
//
// Chunks are claimed with a compare-and-swap on one 64-bit ticket, (region << 32) | next chunk:
// a thread that saw an older region fails its swap and claims nothing, so a late worker can never
// take a chunk of the next region with the previous region's function.
// reference: libgomp's GOMP_SPINCOUNT (spin, then futex wait); llama.cpp's ggml threadpool.
#define _GNU_SOURCE
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/// Pauses a worker spins through before it sleeps (≈ 0.1–0.5 ms: pause is 40–140 cycles).
enum { SPIN_PAUSES = 1 << 13 };

static _Atomic uint64_t ticket;            // (region << 32) | next unclaimed chunk
#define CLOSED_CHUNK 0xFFFFFFFFu           // the chunk field of a finished region: claims nothing
static _Atomic uint32_t region;            // the futex word: bumped once per region
static _Atomic int64_t finished;           // chunks finished in the current region
static _Atomic int sleepers;               // workers in futex_wait
static _Atomic(loft_pool_task) current_task;  // the region's function, context and chunk count:
static _Atomic(void *) current_context;        // written before the ticket is published, read
static _Atomic int64_t current_chunks;         // (relaxed) after it is seen
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t caller_lock = PTHREAD_MUTEX_INITIALIZER;  // one region at a time
static int started_workers;                // threads running (not counting callers)

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
#else
    (void)word; (void)expected; sched_yield();
#endif
}

static void futex_wake_all(_Atomic uint32_t *word) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

/// Runs chunks of region `r` until none is left or the region is over.
static void claim_chunks(uint32_t r) {
    uint64_t seen = atomic_load(&ticket);
    for (;;) {
        if ((uint32_t)(seen >> 32) != r) return;
        int64_t chunk = (int64_t)(uint32_t)seen;
        // Read before the swap: a successful swap proves region r was still open, so these
        // belong to r (the caller closes r's ticket once all its chunks finished, and only then
        // may the next region be published).
        loft_pool_task task = atomic_load_explicit(&current_task, memory_order_relaxed);
        void *context = atomic_load_explicit(&current_context, memory_order_relaxed);
        if (chunk >= atomic_load_explicit(&current_chunks, memory_order_relaxed)) return;
        if (!atomic_compare_exchange_weak(&ticket, &seen, seen + 1)) continue;
        task(context, chunk);
        atomic_fetch_add(&finished, 1);
        seen = atomic_load(&ticket);
    }
}

static void *worker_main(void *unused) {
    (void)unused;
    uint32_t last = atomic_load(&region);
    for (;;) {
        uint32_t now = atomic_load(&region);
        for (int spin = 0; now == last && spin < SPIN_PAUSES; ++spin) {
            CPU_RELAX();
            now = atomic_load(&region);
        }
        if (now == last) {
            atomic_fetch_add(&sleepers, 1);
            if (atomic_load(&region) == last) futex_wait(&region, last);
            atomic_fetch_sub(&sleepers, 1);
            continue;
        }
        last = now;
        claim_chunks(now);
    }
    return NULL;
}

static void forget_workers_after_fork(void) {
    // A forked child has only the forking thread: start a fresh pool on its first region.
    started_workers = 0;
    atomic_store(&sleepers, 0);
    pthread_mutex_init(&start_lock, NULL);
    pthread_mutex_init(&caller_lock, NULL);
}

static void ensure_workers(int workers) {
    if (__atomic_load_n(&started_workers, __ATOMIC_ACQUIRE) >= workers - 1) return;
    pthread_mutex_lock(&start_lock);
    static int fork_handler_installed;
    if (!fork_handler_installed) {
        pthread_atfork(NULL, NULL, forget_workers_after_fork);
        fork_handler_installed = 1;
    }
    while (started_workers < workers - 1) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attributes, 8u << 20);
        int failed = pthread_create(&thread, &attributes, worker_main, NULL);
        pthread_attr_destroy(&attributes);
        if (failed) break;  // fewer helpers: the caller still runs every chunk it can claim
        __atomic_store_n(&started_workers, started_workers + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&start_lock);
}

void loft_pool_run(int64_t chunks, int workers, loft_pool_task task, void *context) {
    if (chunks <= 0) return;
    if (workers > 1) ensure_workers(workers);
    pthread_mutex_lock(&caller_lock);
    atomic_store_explicit(&current_task, task, memory_order_relaxed);
    atomic_store_explicit(&current_context, context, memory_order_relaxed);
    atomic_store_explicit(&current_chunks, chunks, memory_order_relaxed);
    atomic_store(&finished, 0);
    uint32_t r = atomic_load(&region) + 1;
    atomic_store(&ticket, (uint64_t)r << 32);
    atomic_store(&region, r);
    if (atomic_load(&sleepers) > 0) futex_wake_all(&region);
    claim_chunks(r);
    for (unsigned spin = 0; atomic_load(&finished) < chunks; ++spin) {
        if (spin < (1u << 16)) CPU_RELAX(); else sched_yield();
    }
    // Close the region before the next caller may publish its own: a helper that read the ticket
    // (r, chunks) just before the last chunk finished could otherwise still win its swap after the
    // next region's task and count are published, and run a chunk of the next region that was
    // never handed out (twice, or on a context already gone), counting it as finished.
    atomic_store(&ticket, ((uint64_t)r << 32) | CLOSED_CHUNK);
    pthread_mutex_unlock(&caller_lock);
}
