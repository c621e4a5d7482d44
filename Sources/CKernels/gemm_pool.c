/* gemm_pool.c — a small persistent thread pool that lets one SGEMM (or one large Adam sweep) use
 * more than one core.
 *
 * Why not a library pool: a training step makes ~9 GEMM calls of 0.05-0.3 ms each, so waking a
 * sleeping thread per call (tens of microseconds on a VM) would eat the gain. Each worker spins
 * for a short while after its last part before sleeping on a condition variable, so the calls of
 * one step find it awake; between runs it sleeps and costs nothing.
 *
 * Parts are claimed, not assigned: the caller and the workers take part indices from one
 * counter, so when a worker is not scheduled (a loaded machine, the other training slot busy) the
 * caller simply does its parts too instead of waiting for it. The counter carries the job's
 * generation, so a worker that wakes up late can never claim a part of a finished job.
 *
 * Oversubscription: only one caller at a time uses the pool (a try-lock); a second concurrent
 * caller — e.g. the server's second training slot — computes alone instead of queueing, so the
 * process never runs more threads than slots + workers.
 */
#define _POSIX_C_SOURCE 200809L
#include "gemm_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { MAX_WORKERS = 7, MAX_PARTS = 255 };
static const int64_t SPIN_NS = 200000; /* a worker stays awake this long after a job */

/* claim word: generation << 16 | parts << 8 | next part */
#define CLAIM(gen, parts, next) (((uint64_t)(gen) << 16) | ((uint64_t)(parts) << 8) | (uint64_t)(next))

static _Atomic uint64_t claim;
static _Atomic int done;                    /* parts finished in the current job */
static void (*job_part)(void *ctx, int index); /* valid while a part of the job is claimed */
static void *job_ctx;
static _Atomic uint64_t posted;             /* generation of the newest job */
static _Atomic int workers_allowed;         /* workers that may join the current job */

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static _Atomic int sleepers;
static atomic_flag in_use = ATOMIC_FLAG_INIT;
/* Jobs left to run on the caller alone after a worker was found descheduled mid-part: on a busy
 * machine waiting for it costs a scheduler time slice (milliseconds), more than a second core
 * saves; a quiet machine never sets it. */
static _Atomic int backoff;
enum { BACKOFF_JOBS = 64, PREEMPTED_SPINS = 20000 };
static int started; /* workers running; only changed by the caller holding in_use */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claims and runs parts of job `gen` until none is left. */
static void run_parts(uint64_t gen)
{
    uint64_t w = atomic_load(&claim);
    for (;;) {
        const unsigned parts = (unsigned)(w >> 8) & 0xFF, next = (unsigned)w & 0xFF;
        if ((w >> 16) != (gen & 0xFFFFFFFFFFFFull) || next >= parts)
            return;
        if (!atomic_compare_exchange_weak(&claim, &w, w + 1))
            continue; /* w reloaded */
        job_part(job_ctx, (int)next);
        atomic_fetch_add_explicit(&done, 1, memory_order_release);
        w = atomic_load(&claim);
    }
}

static void *worker_main(void *arg)
{
    const int id = (int)(intptr_t)arg;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = atomic_load(&posted);
        if (gen == seen) {
            const int64_t until = now_ns() + SPIN_NS;
            for (unsigned spins = 1; gen == seen; spins++) {
                cpu_relax();
                gen = atomic_load_explicit(&posted, memory_order_acquire);
                if (gen == seen && spins % 256 == 0 && now_ns() > until) {
                    pthread_mutex_lock(&sleep_lock);
                    atomic_fetch_add(&sleepers, 1);
                    while ((gen = atomic_load(&posted)) == seen)
                        pthread_cond_wait(&wake, &sleep_lock);
                    atomic_fetch_sub(&sleepers, 1);
                    pthread_mutex_unlock(&sleep_lock);
                }
            }
        }
        seen = gen;
        if (id < atomic_load(&workers_allowed))
            run_parts(gen);
    }
    return NULL;
}

static int start_workers(int needed)
{
    while (started < needed) {
        pthread_attr_t attr;
        pthread_t thread;
        if (pthread_attr_init(&attr) != 0)
            break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int rc = pthread_create(&thread, &attr, worker_main, (void *)(intptr_t)started);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        started++;
    }
    return started >= needed;
}

int ck_gemm_pool_run(int threads, int parts, void (*part)(void *ctx, int index), void *ctx)
{
    if (threads < 2 || parts < 2 || parts > MAX_PARTS)
        return 0;
    const int workers = threads - 1 < MAX_WORKERS ? threads - 1 : MAX_WORKERS;
    if (atomic_load_explicit(&backoff, memory_order_relaxed) > 0) {
        atomic_fetch_sub_explicit(&backoff, 1, memory_order_relaxed);
        return 0;
    }
    if (atomic_flag_test_and_set_explicit(&in_use, memory_order_acquire))
        return 0;
    if (!start_workers(workers)) {
        atomic_flag_clear_explicit(&in_use, memory_order_release);
        return 0;
    }
    const uint64_t gen = atomic_load(&posted) + 1;
    job_part = part;
    job_ctx = ctx;
    atomic_store(&done, 0);
    atomic_store(&workers_allowed, workers);
    atomic_store(&claim, CLAIM(gen & 0xFFFFFFFFFFFFull, parts, 0));
    atomic_store(&posted, gen); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_parts(gen);
    /* Every part is claimed now; wait for those a worker is still running. */
    for (unsigned spins = 1; atomic_load_explicit(&done, memory_order_acquire) != parts; spins++) {
        if (spins < PREEMPTED_SPINS) {
            cpu_relax();
        } else {
            if (spins == PREEMPTED_SPINS)
                atomic_store_explicit(&backoff, BACKOFF_JOBS, memory_order_relaxed);
            sched_yield(); /* the worker running a part was descheduled: let it run */
        }
    }
    atomic_flag_clear_explicit(&in_use, memory_order_release);
    return 1;
}
