/* gemm_pool.c — a small persistent thread pool that lets one SGEMM (or one large Adam sweep) use
 * a second core.
 *
 * Why not a library pool: a training step makes ~9 GEMM calls of 0.05-0.3 ms each, so waking a
 * sleeping thread per call (tens of microseconds on a VM) would eat the gain. Each worker spins
 * for a short while after its last part before sleeping on a condition variable, so the calls of
 * one step find it awake; between runs it sleeps and costs nothing.
 *
 * Oversubscription: only one caller at a time uses the pool (a try-lock); a second concurrent
 * caller — e.g. the server's second training slot — computes alone instead of queueing, so the
 * process never runs more GEMM threads than slots + workers.
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

enum { MAX_WORKERS = 7 };
static const int64_t SPIN_NS = 200000; /* a worker stays awake this long after a part */

typedef struct {
    _Atomic uint64_t posted;   /* generation of the last part handed to this worker */
    _Atomic uint64_t finished; /* generation of the last part it completed */
    void (*part)(void *ctx, int index);
    void *ctx;
    int index;
} worker_slot;

static worker_slot slots[MAX_WORKERS];
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static _Atomic int sleepers;
static atomic_flag in_use = ATOMIC_FLAG_INIT;
static int started; /* workers running; only changed by the caller holding in_use */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker_main(void *arg)
{
    worker_slot *slot = arg;
    uint64_t seen = 0;
    for (;;) {
        uint64_t posted = atomic_load_explicit(&slot->posted, memory_order_acquire);
        if (posted == seen) {
            const int64_t until = now_ns() + SPIN_NS;
            for (unsigned spins = 1; posted == seen; spins++) {
                cpu_relax();
                posted = atomic_load_explicit(&slot->posted, memory_order_acquire);
                if (posted == seen && spins % 256 == 0 && now_ns() > until) {
                    pthread_mutex_lock(&sleep_lock);
                    atomic_fetch_add(&sleepers, 1);
                    while ((posted = atomic_load(&slot->posted)) == seen)
                        pthread_cond_wait(&wake, &sleep_lock);
                    atomic_fetch_sub(&sleepers, 1);
                    pthread_mutex_unlock(&sleep_lock);
                }
            }
        }
        seen = posted;
        slot->part(slot->ctx, slot->index);
        atomic_store_explicit(&slot->finished, seen, memory_order_release);
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
        const int rc = pthread_create(&thread, &attr, worker_main, &slots[started]);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        started++;
    }
    return started >= needed;
}

int ck_gemm_pool_run(int parts, void (*part)(void *ctx, int index), void *ctx)
{
    if (parts < 2 || parts - 1 > MAX_WORKERS)
        return 0;
    if (atomic_flag_test_and_set_explicit(&in_use, memory_order_acquire))
        return 0;
    if (!start_workers(parts - 1)) {
        atomic_flag_clear_explicit(&in_use, memory_order_release);
        return 0;
    }
    uint64_t generation[MAX_WORKERS];
    for (int w = 0; w < parts - 1; w++) {
        worker_slot *slot = &slots[w];
        slot->part = part;
        slot->ctx = ctx;
        slot->index = w + 1;
        generation[w] = atomic_load_explicit(&slot->posted, memory_order_relaxed) + 1;
        atomic_store(&slot->posted, generation[w]); /* seq_cst: pairs with the sleepers check */
    }
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    part(ctx, 0);
    for (int w = 0; w < parts - 1; w++)
        for (unsigned spins = 1;
             atomic_load_explicit(&slots[w].finished, memory_order_acquire) != generation[w]; spins++) {
            if (spins < 20000)
                cpu_relax();
            else
                sched_yield(); /* the worker was descheduled: let it run */
        }
    atomic_flag_clear_explicit(&in_use, memory_order_release);
    return 1;
}
