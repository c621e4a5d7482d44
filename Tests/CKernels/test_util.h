/* test_util.h — tiny test harness shared by the CKernels C tests: case runner, per-case arena
 * allocator (exact-size mallocs so ASan sees overruns), comparisons and a central-difference
 * gradient checker. */
#ifndef CK_TEST_UTIL_H
#define CK_TEST_UTIL_H

#include "ckernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
void run_case(const char *name, test_fn fn);
#define RUN(fn) run_case(#fn, fn)

void fail_at(const char *file, int line, const char *fmt, ...);
#define EXPECT(cond, ...)                                                                        \
    do {                                                                                         \
        if (!(cond))                                                                             \
            fail_at(__FILE__, __LINE__, __VA_ARGS__);                                            \
    } while (0)

/* Freed automatically when the current case ends. */
float *talloc(size_t n);
void *talloc_bytes(size_t bytes);

/* Deterministic test data in [lo, hi). */
void fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);
/* sum a[i] * b[i] in double. */
double dot_d(const float *a, const float *b, size_t n);

/* |got - want| <= atol + rtol * |want| elementwise; reports the worst element. */
void expect_close_at(const char *file, int line, const char *what, const float *got,
                     const float *want, size_t n, double atol, double rtol);
#define EXPECT_CLOSE(what, got, want, n, atol, rtol)                                             \
    expect_close_at(__FILE__, __LINE__, what, got, want, n, atol, rtol)

/* Central differences of loss() w.r.t. each x[i] compared with grad[i]. loss() must read x. */
typedef double (*loss_fn)(void *ctx);
void fd_check_at(const char *file, int line, const char *what, float *x, const float *grad,
                 size_t n, loss_fn loss, void *ctx, float h, double atol, double rtol);
#define FD_CHECK(what, x, grad, n, loss, ctx, h, atol, rtol)                                     \
    fd_check_at(__FILE__, __LINE__, what, x, grad, n, loss, ctx, h, atol, rtol)

void suite_gemm(void);
void suite_activation(void);
void suite_bias_activation(void);
void suite_softmax_ce(void);
void suite_policy_gradient(void);
void suite_layer_norm(void);
void suite_optimizer(void);
void suite_clip(void);
void suite_rng(void);
void suite_seeds(void);
void suite_seed_faults(void);
void suite_widen(void);
void suite_gemm_kernels(void);
void suite_conv1d(void);
void suite_conv_branch(void);

#endif
