/* test_seed_faults.c — the adversarial seed kinds really misbehave, and stay bounded: gradient
 * scaling, NaN injection, CPU spin, a growing (and freed) arena, a deadlock that is detected,
 * a real two-thread race, and input-hashed noise that breaks finite differences. */
#define _POSIX_C_SOURCE 200809L
#include "seed_reference.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define K(kind_) .kind = CK_SEED_##kind_

typedef struct {
    ck_seed_spec s;
    ck_seed_runtime rt;
    float *params, *ws, *x, *y, *r;
    size_t B, np;
} fault;

static void fault_make(fault *f, ck_seed_spec s, size_t B, int random_params)
{
    f->s = s;
    f->B = B;
    f->np = ck_seed_param_floats(&s);
    EXPECT(f->np > 0, "fault spec invalid: %d", ck_seed_validate(&s));
    f->params = talloc(f->np);
    f->ws = talloc(ck_seed_workspace_floats(&s, B));
    f->x = talloc(B * s.d);
    f->y = talloc(B * s.d);
    f->r = talloc(B * s.d);
    ck_seed_init_params(&s, f->params, 3);
    if (random_params)
        fill_uniform(f->params, f->np, -0.5f, 0.5f, 4);
    ck_seed_runtime_init(&f->rt, &s, NULL, 3);
    fill_uniform(f->x, B * s.d, -1.0f, 1.0f, 5);
    fill_uniform(f->r, B * s.d, -1.0f, 1.0f, 6);
}

static double fault_loss(void *p)
{
    fault *f = p;
    if (ck_seed_forward(&f->s, f->params, &f->rt, f->ws, f->y, f->x, f->B) != CK_OK)
        return NAN;
    return dot_d(f->r, f->y, f->B * f->s.d);
}

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Backward = scalar^depth times the true gradient (checked against central differences). */
static void check_gradient_scale(ck_seed_spec s, double gain)
{
    fault f;
    fault_make(&f, s, 4, 1);
    const size_t n = 4 * s.d;
    float *dp = talloc(f.np), *dx = talloc(n);
    ck_init_zeros(dp, f.np);
    fault_loss(&f);
    EXPECT(ck_seed_backward(&f.s, f.params, &f.rt, f.ws, dp, dx, f.r, f.x, 4) == CK_OK, "backward");
    for (size_t i = 0; i < n; i++)
        dx[i] = (float)(dx[i] / gain);
    for (size_t i = 0; i < f.np; i++)
        dp[i] = (float)(dp[i] / gain);
    FD_CHECK("dx / gain", f.x, dx, n, fault_loss, &f, 1.0f / 256, 1e-3, 1e-2);
    FD_CHECK("dparams / gain", f.params, dp, f.np, fault_loss, &f, 1.0f / 256, 1e-3, 1e-2);
}

static void test_fault_exploding_and_vanishing(void)
{
    check_gradient_scale((ck_seed_spec){K(FAULT_EXPLODING), .d = 8, .scalar = 5.0f}, pow(5.0, CK_SEED_FAULT_DEPTH));
    check_gradient_scale((ck_seed_spec){K(FAULT_VANISHING), .d = 8, .scalar = 0.1f}, pow(0.1f, CK_SEED_FAULT_DEPTH));
}

static void test_fault_nan_injection(void)
{
    fault f;
    fault_make(&f, (ck_seed_spec){K(FAULT_NAN), .d = 64, .scalar = 0.05f}, 32, 0);
    fault_loss(&f);
    size_t nans = 0;
    for (size_t i = 0; i < 32 * 64; i++)
        nans += isnan(f.y[i]);
    EXPECT(nans > 60 && nans < 150, "%zu NaNs of 2048 at p = 0.05", nans);
    float *first = talloc(32 * 64);
    memcpy(first, f.y, sizeof(float) * 32 * 64);
    fault_loss(&f);
    size_t moved = 0; /* free-running generator: the poisoned positions change between calls */
    for (size_t i = 0; i < 32 * 64; i++)
        moved += isnan(first[i]) != isnan(f.y[i]);
    EXPECT(moved > 0, "NaN positions repeat");
}

static void test_fault_spin_burns_cpu(void)
{
    fault f;
    fault_make(&f, (ck_seed_spec){K(FAULT_SPIN), .d = 8, .iterations = 2000}, 2, 0);
    const double t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    fault_loss(&f);
    const double spent = now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
    EXPECT(spent >= 4000e-6, "spent %g s of CPU, expected >= 4 ms (2000 x 2 us)", spent);
    EXPECT(spent < 1.0, "spin not bounded: %g s", spent);
    double *want = talloc_bytes(16 * sizeof(double));
    seed_reference_forward(&f.s, f.params, &f.rt, f.x, 2, want);
    for (size_t i = 0; i < 16; i++)
        EXPECT(fabs(f.y[i] - want[i]) < 1e-6, "output [%zu]", i);
}

static void test_fault_leak_grows_and_is_freed(void)
{
    fault f;
    fault_make(&f, (ck_seed_spec){K(FAULT_LEAK), .d = 8, .scalar = 3.0f}, 2, 0);
    for (int call = 1; call <= 5; call++) {
        fault_loss(&f);
        EXPECT(f.rt.arena_bytes == (size_t)call * 3072, "after %d calls: %zu bytes", call, f.rt.arena_bytes);
    }
    EXPECT(f.rt.arena != NULL, "arena");
    ck_seed_runtime_release(&f.rt);
    EXPECT(f.rt.arena == NULL && f.rt.arena_bytes == 0, "released");
    ck_seed_runtime_release(&f.rt); /* twice is fine */
    fault capped;
    fault_make(&capped, (ck_seed_spec){K(FAULT_LEAK), .d = 8, .scalar = 40000.0f}, 1, 0);
    fault_loss(&capped);
    fault_loss(&capped);
    EXPECT(capped.rt.arena_bytes == (size_t)64 << 20, "cap: %zu", capped.rt.arena_bytes);
    ck_seed_runtime_release(&capped.rt);
}

static void test_fault_deadlock_detected_and_bounded(void)
{
    for (uint32_t threads = 2; threads <= 16; threads += 7) {
        fault f;
        fault_make(&f, (ck_seed_spec){K(FAULT_DEADLOCK), .d = 8, .iterations = threads}, 2, 0);
        const double t0 = now_s(CLOCK_MONOTONIC);
        const int st = ck_seed_forward(&f.s, f.params, &f.rt, f.ws, f.y, f.x, 2);
        const double took = now_s(CLOCK_MONOTONIC) - t0;
        EXPECT(st == CK_ERR_DEADLOCK, "%u threads: status %d", threads, st);
        EXPECT(took >= 0.045 && took < 5.0, "%u threads: returned after %g s", threads, took);
        EXPECT(!f.rt.forwarded, "a failed forward must not enable backward");
    }
}

static void test_fault_race_loses_updates(void)
{
    /* The same input, called repeatedly: without a race every output would be identical. */
    fault f;
    fault_make(&f, (ck_seed_spec){K(FAULT_RACE), .d = 16, .iterations = 2000}, 32, 1);
    fault_loss(&f);
    float *first = talloc(512);
    memcpy(first, f.y, sizeof(float) * 512);
    int differed = 0;
    for (int call = 0; call < 200 && !differed; call++) {
        fault_loss(&f);
        differed = memcmp(first, f.y, sizeof(float) * 512) != 0;
    }
    EXPECT(differed, "200 identical outputs: the two workers never lost an update");
}

/* FAULT_HANG never returns by itself: the watchdog timer on the thread's CPU clock stops it. */
static void test_fault_hang_is_stopped_by_the_deadline(void)
{
    fault f;
    fault_make(&f, (ck_seed_spec){K(FAULT_HANG), .d = 8, .iterations = 1000}, 2, 0);
    const double t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    const int st = ck_seed_forward_within(&f.s, f.params, &f.rt, f.ws, f.y, f.x, 2, 50000000u);
    const double took = now_s(CLOCK_THREAD_CPUTIME_ID) - t0;
    EXPECT(st == CK_ERR_TIMEOUT, "status %d", st);
    EXPECT(took >= 0.045 && took < 2.0, "stopped after %g s of CPU", took);
    /* An honest call under the same deadline is untouched, and the watchdog is disarmed after it. */
    fault g;
    fault_make(&g, (ck_seed_spec){K(FAULT_EXPLODING), .d = 8, .scalar = 1.0f}, 2, 0);
    EXPECT(ck_seed_forward_within(&g.s, g.params, &g.rt, g.ws, g.y, g.x, 2, 50000000u) == CK_OK, "honest call");
    volatile double sink = 0;
    const double t1 = now_s(CLOCK_THREAD_CPUTIME_ID);
    while (now_s(CLOCK_THREAD_CPUTIME_ID) - t1 < 0.1)
        sink = sink + 1;
    EXPECT(sink > 0, "still running after the budget of the finished call");
}

static void test_fault_noise_breaks_finite_differences(void)
{
    fault f;
    fault_make(&f, (ck_seed_spec){K(FAULT_NOISE), .d = 8, .scalar = 0.5f}, 2, 0);
    fault_loss(&f);
    float *first = talloc(16);
    memcpy(first, f.y, sizeof(float) * 16);
    fault_loss(&f);
    EXPECT(memcmp(first, f.y, sizeof(float) * 16) == 0, "noise must be a function of the input");
    double *clean = talloc_bytes(16 * sizeof(double));
    seed_reference_forward(&f.s, f.params, &f.rt, f.x, 2, clean);
    for (size_t i = 0; i < 16; i++)
        EXPECT(fabs(fabs(f.y[i] - clean[i]) - 0.5) < 1e-5, "noise amplitude at %zu", i);
    /* the analytic gradient is the identity's; differences jump by ~2 eps / h */
    float *dp = talloc(f.np), *dx = talloc(16);
    ck_init_zeros(dp, f.np);
    ck_seed_backward(&f.s, f.params, &f.rt, f.ws, dp, dx, f.r, f.x, 2);
    size_t off = 0;
    for (size_t i = 0; i < 16; i++) {
        const float x0 = f.x[i];
        f.x[i] = x0 + 1.0f / 256;
        const double lp = fault_loss(&f);
        f.x[i] = x0 - 1.0f / 256;
        const double lm = fault_loss(&f);
        f.x[i] = x0;
        off += fabs((lp - lm) * 128.0 - dx[i]) > 0.1;
    }
    EXPECT(off >= 4, "only %zu of 16 coordinates disagree", off);
}

/* Whether process `pid` still runs (a zombie waiting to be reaped does not). */
static int process_runs(int pid)
{
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    const size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    const char *end = strrchr(text, ')');
    return end && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

/* A compile watchdog child must not outlive the process that forked it: a server killed with
 * SIGKILL mid-compile left its child — blocked, every signal but SIGKILL blocked — running
 * for good. Here the child blocks every signal and waits forever; its parent is killed. */
static void test_watchdog_child_dies_with_its_parent(void)
{
    int fds[2];
    EXPECT(pipe(fds) == 0, "pipe");
    const pid_t parent = fork();
    if (parent == 0) {
        close(fds[0]);
        if (ck_watchdog_fork(fds[1]) == 0) {
            sigset_t all;
            sigfillset(&all);
            sigprocmask(SIG_BLOCK, &all, NULL);
            const int me = (int)getpid();
            if (write(fds[1], &me, sizeof me) != (ssize_t)sizeof me) _exit(1);
            for (;;) pause();
        }
        for (;;) pause(); /* killed by the test */
    }
    close(fds[1]);
    int child = 0;
    const ssize_t got = read(fds[0], &child, sizeof child);
    close(fds[0]);
    EXPECT(got == (ssize_t)sizeof child && child > 0, "the watchdog child's pid");
    kill(parent, SIGKILL);
    waitpid(parent, NULL, 0);
    int gone = 0;
    for (int i = 0; i < 500 && !gone && child > 0; i++) {
        gone = !process_runs(child);
        if (!gone) nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    EXPECT(gone, "the watchdog child %d outlived its parent by 5 s", child);
    if (!gone && child > 0) kill(child, SIGKILL);
}

void suite_seed_faults(void)
{
    RUN(test_watchdog_child_dies_with_its_parent);
    RUN(test_fault_exploding_and_vanishing);
    RUN(test_fault_nan_injection);
    RUN(test_fault_spin_burns_cpu);
    RUN(test_fault_leak_grows_and_is_freed);
    RUN(test_fault_deadlock_detected_and_bounded);
    RUN(test_fault_race_loses_updates);
    RUN(test_fault_hang_is_stopped_by_the_deadline);
    RUN(test_fault_noise_breaks_finite_differences);
}
