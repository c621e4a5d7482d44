/* seed_faults.c — the adversarial kinds behind Karn's HIGH_RISK templates (BP043-BP050).
 *
 * They exist so the validation gates and the seed lifecycle's failure paths meet real
 * misbehaviour, not a flag. Each is a residual linear layer y = x + x W^T + b (zero-initialised,
 * so its honest part is the identity) plus one deliberate fault. Every fault is bounded: the
 * spin is capped by its parameter, the arena at 64 MiB and freed on release, the deadlock is
 * broken by a 50 ms try-lock deadline, the race joins its threads — except FAULT_HANG, which
 * really never returns and exists to prove the watchdog outside the call stops it. These kinds (and only these)
 * allocate memory or start threads inside a call, because that is the fault. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep, pthreads under -std=c11 */

#include "seed_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#define LEAK_CAP_BYTES ((size_t)64 << 20)
#define DEADLOCK_DEADLINE_NS 50000000LL
#define DEADLOCK_MAX_THREADS 16
#define RACE_THREADS 2

static void fault_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w", 2, s->d, s->d, 1, CK_INIT_ZERO, 0.0f, s->d);
    seed_table_add(t, "b", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

static int base_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d;
    int st = seed_linear_fwd(c->s, y, d, x, d, seed_param(c, 0), seed_param(c, 1), c->B, d, d, 1.0f);
    for (size_t i = 0; st == CK_OK && i < c->B * d; i++)
        y[i] += x[i];
    return st;
}

/* Every gradient (parameters and input) scaled by `gain`. */
static int scaled_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x, float gain)
{
    const size_t d = c->s->d;
    if (dx)
        for (size_t i = 0; i < c->B * d; i++)
            dx[i] = gain * dy[i];
    return seed_linear_bwd(c->s, dx, d, 1, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), dy, d, x, d,
                           seed_param(c, 0), c->B, d, d, gain);
}

static int base_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    return scaled_backward(c, dparams, dx, dy, x, 1.0f);
}

static double fault_flops(const ck_seed_spec *s, size_t B) { return 2.0 * (double)B * s->d * s->d; }

static float depth_power(float v)
{
    float p = 1.0f;
    for (unsigned i = 0; i < CK_SEED_FAULT_DEPTH; i++)
        p *= v;
    return p;
}

static int positive_scalar(const ck_seed_spec *s) { return s->scalar > 0.0f ? CK_OK : CK_ERR_ARG; }
static int nonnegative_scalar(const ck_seed_spec *s) { return s->scalar >= 0.0f ? CK_OK : CK_ERR_ARG; }

#define FAULT_OPS(name, kind_id, uses_bits, check_fn, fwd, bwd)                                                  \
    const seed_kind_ops name = {.kind = kind_id, .uses = uses_bits, .variants = VARIANTS_SINGLE,                 \
                                .check = check_fn, .table = fault_table, .flops = fault_flops, .forward = fwd,   \
                                .backward = bwd}

/* ---- exploding / vanishing gradients ----------------------------------------------------- */

static int exploding_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    return scaled_backward(c, dparams, dx, dy, x, depth_power(c->s->scalar));
}

FAULT_OPS(seed_fault_exploding_ops, CK_SEED_FAULT_EXPLODING, USES_SCALAR, positive_scalar, base_forward,
          exploding_backward);
FAULT_OPS(seed_fault_vanishing_ops, CK_SEED_FAULT_VANISHING, USES_SCALAR, nonnegative_scalar, base_forward,
          exploding_backward);

/* ---- NaN injection: each output NaN with probability scalar ------------------------------ */

static int nan_check(const ck_seed_spec *s) { return s->scalar >= 0.0f && s->scalar <= 1.0f ? CK_OK : CK_ERR_ARG; }

static int nan_forward(const seed_ctx *c, float *y, const float *x)
{
    int st = base_forward(c, y, x);
    for (size_t i = 0; st == CK_OK && i < c->B * c->s->d; i++) {
        /* free-running: a replay of the same input poisons different elements */
        const float u = (float)(ck_splitmix64_next(&c->rt->prng) >> 40) * 0x1.0p-24f;
        if (u < c->s->scalar)
            y[i] = NAN;
    }
    return st;
}

FAULT_OPS(seed_fault_nan_ops, CK_SEED_FAULT_NAN, USES_SCALAR, nan_check, nan_forward, base_backward);

/* ---- spin: `iterations` busy loops of 2 us thread CPU time each -------------------------- */
/* Measured in thread CPU time, so a call costs the same however loaded the machine is. */

static long long thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int spin_check(const ck_seed_spec *s) { return s->iterations <= 1000000u ? CK_OK : CK_ERR_ARG; }

static int spin_forward(const seed_ctx *c, float *y, const float *x)
{
    volatile unsigned sink = 0;
    for (uint32_t i = 0; i < c->s->iterations; i++) {
        const long long start = thread_cpu_ns();
        while (thread_cpu_ns() - start < 2000)
            sink = sink + 1;
    }
    return base_forward(c, y, x);
}

FAULT_OPS(seed_fault_spin_ops, CK_SEED_FAULT_SPIN, USES_ITERATIONS, spin_check, spin_forward, base_backward);

/* ---- hang: a real infinite loop ----------------------------------------------------------- */
/* The forward never returns: it spins forever in chunks of `iterations` 2 us spins of thread CPU
 * time. There is no bound and no way out from inside; only a watchdog outside the call (the
 * compile gates run in a child process that is killed at its deadline) stops it. */

static int hang_forward(const seed_ctx *c, float *y, const float *x)
{
    volatile unsigned sink = 0;
    for (;;) {
        for (uint32_t i = 0; i < c->s->iterations; i++) {
            const long long start = thread_cpu_ns();
            while (thread_cpu_ns() - start < 2000)
                sink = sink + 1;
        }
        if (sink == 0 && y == NULL && x == NULL) /* never true: keeps the loop's inputs "used" */
            break;
    }
    return base_forward(c, y, x);
}

FAULT_OPS(seed_fault_hang_ops, CK_SEED_FAULT_HANG, USES_ITERATIONS, spin_check, hang_forward, base_backward);

/* ---- leak: the arena grows by scalar KiB per call ---------------------------------------- */

static int leak_check(const ck_seed_spec *s) { return s->scalar >= 0.0f && s->scalar <= 65536.0f ? CK_OK : CK_ERR_ARG; }

static int leak_forward(const seed_ctx *c, float *y, const float *x)
{
    ck_seed_runtime *rt = c->rt;
    size_t grown = rt->arena_bytes + (size_t)lroundf(c->s->scalar * 1024.0f);
    if (grown > LEAK_CAP_BYTES)
        grown = LEAK_CAP_BYTES;
    if (grown > rt->arena_bytes) {
        void *p = realloc(rt->arena, grown);
        if (!p)
            return CK_ERR_SIZE;
        memset((char *)p + rt->arena_bytes, 0xA5, grown - rt->arena_bytes); /* make it resident */
        rt->arena = p;
        rt->arena_bytes = grown;
    }
    return base_forward(c, y, x);
}

FAULT_OPS(seed_fault_leak_ops, CK_SEED_FAULT_LEAK, USES_SCALAR, leak_check, leak_forward, base_backward);

/* ---- deadlock: a ring of workers, each holding its lock and waiting for the next ---------- */
/* Worker i holds lock i and try-locks lock i+1 (mod n) until a shared deadline. Nobody lets go
 * of its own lock before every worker has given up, so every call deadlocks, deterministically,
 * and every call still ends within about twice the deadline. */

typedef struct {
    pthread_mutex_t *locks;
    uint32_t *held, *gave_up, *started, *creation_done; /* shared counters (atomic builtins) */
    long long deadline;
    size_t index, n;
    int deadlocked;
} ring_worker;

static void nap(void)
{
    struct timespec pause = {0, 100000};
    nanosleep(&pause, NULL);
}

static void *ring_worker_main(void *arg)
{
    ring_worker *w = arg;
    pthread_mutex_lock(&w->locks[w->index]);
    __atomic_add_fetch(w->held, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(w->held, __ATOMIC_SEQ_CST) < w->n && monotonic_ns() < w->deadline)
        nap(); /* wait until the cycle is closed */
    pthread_mutex_t *next = &w->locks[(w->index + 1) % w->n];
    w->deadlocked = 1;
    while (monotonic_ns() < w->deadline) {
        if (pthread_mutex_trylock(next) == 0) { /* only if a worker never started */
            pthread_mutex_unlock(next);
            w->deadlocked = 0;
            break;
        }
        nap();
    }
    __atomic_add_fetch(w->gave_up, 1, __ATOMIC_SEQ_CST);
    const long long release_by = w->deadline + DEADLOCK_DEADLINE_NS;
    while (!(__atomic_load_n(w->creation_done, __ATOMIC_SEQ_CST) &&
             __atomic_load_n(w->gave_up, __ATOMIC_SEQ_CST) >= __atomic_load_n(w->started, __ATOMIC_SEQ_CST)) &&
           monotonic_ns() < release_by)
        nap();
    pthread_mutex_unlock(&w->locks[w->index]);
    return NULL;
}

static int deadlock_check(const ck_seed_spec *s)
{
    return s->iterations >= 2 && s->iterations <= DEADLOCK_MAX_THREADS ? CK_OK : CK_ERR_ARG;
}

static int deadlock_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t n = c->s->iterations;
    pthread_mutex_t locks[DEADLOCK_MAX_THREADS];
    pthread_t threads[DEADLOCK_MAX_THREADS];
    ring_worker workers[DEADLOCK_MAX_THREADS];
    uint32_t held = 0, gave_up = 0, started = 0, creation_done = 0;
    const long long deadline = monotonic_ns() + DEADLOCK_DEADLINE_NS;
    for (size_t i = 0; i < n; i++)
        pthread_mutex_init(&locks[i], NULL);
    size_t count = 0;
    for (; count < n; count++) {
        workers[count] = (ring_worker){locks, &held, &gave_up, &started, &creation_done, deadline, count, n, 0};
        if (pthread_create(&threads[count], NULL, ring_worker_main, &workers[count]) != 0)
            break;
        __atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
    }
    __atomic_store_n(&creation_done, 1, __ATOMIC_SEQ_CST);
    int deadlocked = count < n; /* a ring that could not even start counts as failed */
    for (size_t i = 0; i < count; i++) {
        pthread_join(threads[i], NULL);
        deadlocked |= workers[i].deadlocked;
    }
    for (size_t i = 0; i < n; i++)
        pthread_mutex_destroy(&locks[i]);
    return deadlocked ? CK_ERR_DEADLOCK : base_forward(c, y, x);
}

FAULT_OPS(seed_fault_deadlock_ops, CK_SEED_FAULT_DEADLOCK, USES_ITERATIONS, deadlock_check, deadlock_forward,
          base_backward);

/* ---- race: two threads, no lock, one shared accumulator ---------------------------------- */
/* A real data race: each worker adds its elements one by one into a plain (volatile, not
 * atomic, not locked) float owned by this call — read, dawdle `iterations` ns, write back.
 * Whenever the two workers overlap, one overwrites the other's update, and which updates are
 * lost depends on the scheduler, so the same input gives different outputs from call to call.
 * Nothing is kept between calls: the misbehaviour is the race itself. Only the start is
 * synchronised (both workers running before either adds), so the race has a chance to occur
 * even on a loaded machine. */

typedef struct {
    volatile float *accumulator;
    uint32_t *ready; /* start barrier (atomic builtins) */
    const float *values;
    size_t count;
    long long window_ns;
} race_worker;

static void *race_worker_main(void *arg)
{
    race_worker *w = arg;
    __atomic_add_fetch(w->ready, 1, __ATOMIC_SEQ_CST);
    const long long wait_until = monotonic_ns() + DEADLOCK_DEADLINE_NS;
    while (__atomic_load_n(w->ready, __ATOMIC_SEQ_CST) < RACE_THREADS && monotonic_ns() < wait_until) {
    }
    for (size_t i = 0; i < w->count; i++) {
        const float seen = *w->accumulator; /* unsynchronised read … */
        const long long until = monotonic_ns() + w->window_ns;
        while (monotonic_ns() < until) {
        }
        sched_yield(); /* a preemption point inside the window, as a busy machine would make */
        *w->accumulator = seen + w->values[i] * 1e-3f; /* … and write: the other's update is lost */
    }
    return NULL;
}

static int race_check(const ck_seed_spec *s) { return s->iterations <= 10000000u ? CK_OK : CK_ERR_ARG; }

static int race_forward(const seed_ctx *c, float *y, const float *x)
{
    int st = base_forward(c, y, x);
    if (st != CK_OK)
        return st;
    const size_t n = c->B * c->s->d, half = n / 2;
    volatile float accumulator = 0.0f;
    uint32_t ready = 0;
    pthread_t threads[RACE_THREADS];
    race_worker workers[RACE_THREADS] = {{&accumulator, &ready, x, half, c->s->iterations},
                                         {&accumulator, &ready, x + half, n - half, c->s->iterations}};
    size_t started = 0;
    for (; started < RACE_THREADS; started++)
        if (pthread_create(&threads[started], NULL, race_worker_main, &workers[started]) != 0)
            break;
    for (size_t i = started; i < RACE_THREADS; i++)
        race_worker_main(&workers[i]);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    const float acc = accumulator;
    for (size_t i = 0; i < n; i++)
        y[i] += acc;
    return CK_OK;
}

FAULT_OPS(seed_fault_race_ops, CK_SEED_FAULT_RACE, USES_ITERATIONS, race_check, race_forward, base_backward);

/* ---- noise: +-scalar chosen by a hash of each input's bits ------------------------------- */
/* Deterministic for a given input, but flipping with any change of it: the forward stops being
 * differentiable, which finite differences expose and the analytic backward cannot see. */

static int noise_forward(const seed_ctx *c, float *y, const float *x)
{
    int st = base_forward(c, y, x);
    for (size_t i = 0; st == CK_OK && i < c->B * c->s->d; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        const uint64_t h = seed_mix64(((uint64_t)bits << 32) ^ (uint64_t)i ^ c->rt->seed);
        y[i] += (h & 1) ? c->s->scalar : -c->s->scalar;
    }
    return st;
}

FAULT_OPS(seed_fault_noise_ops, CK_SEED_FAULT_NOISE, USES_SCALAR, nonnegative_scalar, noise_forward, base_backward);
