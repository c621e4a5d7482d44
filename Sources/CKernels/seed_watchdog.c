/* seed_watchdog.c — a seed kernel call under a CPU-time deadline enforced from outside the call.
 *
 * A per-thread POSIX timer on the calling thread's CPU clock delivers a real-time signal to
 * that thread when the call has used `cpu_budget_ns`; the handler jumps back (siglongjmp) to
 * the entry of the guarded call, which returns CK_ERR_TIMEOUT. So a kernel that spins forever
 * is stopped on the training thread without ending the process, and the runtime that kernel
 * used is never called again (the caller culls the seed).
 *
 * Limits, by design: the jump abandons whatever the kernel was doing, so it is safe for the
 * pure computational loops of the kernels (no locks, no allocation); a kernel that starts
 * threads (only the FAULT_DEADLOCK / FAULT_RACE kinds, which never pass the compile gates) or
 * is stopped inside OpenBLAS may leave that library's state behind. */
#define _GNU_SOURCE /* SIGEV_THREAD_ID, gettid */

#include "seed_internal.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Thread_local sigjmp_buf *active_guard;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static int handler_ok;

static int watchdog_signal(void) { return SIGRTMIN + 3; }

static void on_deadline(int sig)
{
    (void)sig;
    sigjmp_buf *guard = active_guard;
    if (guard) {
        active_guard = NULL;
        siglongjmp(*guard, 1);
    }
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_deadline;
    sigemptyset(&sa.sa_mask);
    handler_ok = sigaction(watchdog_signal(), &sa, NULL) == 0;
}

typedef struct {
    int backward;
    const ck_seed_spec *s;
    const float *params;
    ck_seed_runtime *rt;
    float *ws, *y, *dparams, *dx;
    const float *x, *dy;
    size_t B;
} guarded_call;

static int run(const guarded_call *c)
{
    return c->backward ? ck_seed_backward(c->s, c->params, c->rt, c->ws, c->dparams, c->dx, c->dy, c->x, c->B)
                       : ck_seed_forward(c->s, c->params, c->rt, c->ws, c->y, c->x, c->B);
}

static int guarded(const guarded_call *c, uint64_t cpu_budget_ns)
{
    if (cpu_budget_ns == 0)
        return run(c);
    pthread_once(&handler_once, install_handler);
    if (!handler_ok)
        return run(c);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = watchdog_signal();
    ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    timer_t timer;
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &timer) != 0)
        return run(c);
    /* The calling thread may block signals (servers leave them to one thread): let this one
     * through for the call. sigsetjmp saves the caller's mask, so the jump restores it. */
    sigset_t only, previous;
    sigemptyset(&only);
    sigaddset(&only, watchdog_signal());
    sigjmp_buf guard;
    volatile int status = CK_ERR_TIMEOUT;
    if (sigsetjmp(guard, 1) == 0) {
        active_guard = &guard;
        pthread_sigmask(SIG_UNBLOCK, &only, &previous);
        struct itimerspec when;
        memset(&when, 0, sizeof when);
        when.it_value.tv_sec = (time_t)(cpu_budget_ns / 1000000000u);
        when.it_value.tv_nsec = (long)(cpu_budget_ns % 1000000000u);
        timer_settime(timer, 0, &when, NULL);
        status = run(c);
        active_guard = NULL;
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
    }
    timer_delete(timer);
    active_guard = NULL;
    return status;
}

int ck_seed_forward_within(const ck_seed_spec *s, const float *params, ck_seed_runtime *rt, float *ws, float *y,
                           const float *x, size_t B, uint64_t cpu_budget_ns)
{
    const guarded_call c = {0, s, params, rt, ws, y, NULL, NULL, x, NULL, B};
    return guarded(&c, cpu_budget_ns);
}

int ck_seed_backward_within(const ck_seed_spec *s, const float *params, ck_seed_runtime *rt, float *ws,
                            float *dparams, float *dx, const float *dy, const float *x, size_t B,
                            uint64_t cpu_budget_ns)
{
    const guarded_call c = {1, s, params, rt, ws, NULL, dparams, dx, x, dy, B};
    return guarded(&c, cpu_budget_ns);
}

/* fork for the compile watchdog's child process without running the atfork handlers: OpenBLAS
 * registers one that shuts its thread pool down in the parent, which breaks a GEMM another
 * thread of the parent is running at that moment (it then waits forever for workers that are
 * gone). The child must not use OpenBLAS threads (it calls ck_blas_set_threads(1) first).
 *
 * In the child, every descriptor except stdio and keep_fd is closed at once: the child would
 * otherwise hold the parent's listening sockets, client connections and database files open
 * for as long as it runs (a stopped server's port kept accepting connections into a backlog
 * nobody reads, and a client's connection stayed open after the server closed it). */
static void close_all_but(int keep_fd)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1 << 20) max = 1 << 20;
#ifdef SYS_close_range
    int ok = 1;
    if (keep_fd > 3) ok = syscall(SYS_close_range, 3u, (unsigned)keep_fd - 1u, 0u) == 0;
    if (ok) ok = syscall(SYS_close_range, (unsigned)(keep_fd >= 3 ? keep_fd + 1 : 3), ~0u, 0u) == 0;
    if (ok) return;
#endif
    for (long fd = 3; fd < max; fd++)
        if (fd != keep_fd) close((int)fd);
}

/* The child also dies with the thread that forked it (PR_SET_PDEATHSIG; that thread waits
 * for the child, so it outlives it in every normal case). Without this, a parent killed while
 * a compile ran (kill -9, the OOM killer) left its child running for good: one blocked on a
 * lock inherited at the fork (see KernelWatchdog) with every signal but SIGKILL blocked, which
 * nobody was left to kill — seen after the kill -9 recovery tests. A parent already gone
 * before the request took effect is caught by comparing the parent's pid. */
int ck_watchdog_fork(int keep_fd)
{
    const pid_t parent = getpid();
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    const int pid = (int)_Fork();
#else
    const int pid = (int)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
        close_all_but(keep_fd);
    }
    return pid;
}
