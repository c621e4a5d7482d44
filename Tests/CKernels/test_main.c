/* test_main.c — runs every CKernels test suite; the last line printed is "N passed, M failed". */
#include "test_util.h"

#include <stdarg.h>

#define MAX_ALLOCS 65536

static int passed, failed, case_failed;
static const char *case_name;
static void *allocs[MAX_ALLOCS];
static size_t n_allocs;

void fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    if (!case_failed)
        printf("FAIL %s\n", case_name);
    case_failed = 1;
    printf("  %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

void *talloc_bytes(size_t bytes)
{
    if (n_allocs == MAX_ALLOCS) {
        fprintf(stderr, "test arena full\n");
        exit(2);
    }
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    allocs[n_allocs++] = p;
    return p;
}

float *talloc(size_t n) { return talloc_bytes(n * sizeof(float)); }

void run_case(const char *name, test_fn fn)
{
    case_name = name;
    case_failed = 0;
    fn();
    while (n_allocs)
        free(allocs[--n_allocs]);
    if (case_failed)
        failed++;
    else {
        passed++;
        printf("ok   %s\n", name);
    }
}

void fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    ck_rng rng;
    ck_rng_seed(&rng, seed, 7u);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * ck_rng_uniform(&rng);
}

double dot_d(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

void expect_close_at(const char *file, int line, const char *what, const float *got,
                     const float *want, size_t n, double atol, double rtol)
{
    size_t worst = 0, bad = 0;
    double worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - want[i]);
        const double excess = err - (atol + rtol * fabs((double)want[i]));
        if (!(excess <= 0.0)) /* also catches NaN */
            bad++;
        if (!(excess <= worst_excess)) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (bad)
        fail_at(file, line, "%s: %zu/%zu elements off, worst [%zu] got %.9g want %.9g", what, bad,
                n, worst, (double)got[worst], (double)want[worst]);
}

void fd_check_at(const char *file, int line, const char *what, float *x, const float *grad,
                 size_t n, loss_fn loss, void *ctx, float h, double atol, double rtol)
{
    size_t bad = 0, worst = 0;
    double worst_excess = -INFINITY, worst_num = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float x0 = x[i];
        const float xp = x0 + h, xm = x0 - h;
        x[i] = xp;
        const double lp = loss(ctx);
        x[i] = xm;
        const double lm = loss(ctx);
        x[i] = x0;
        /* divide by the step actually taken after rounding xp, xm to float */
        const double num = (lp - lm) / ((double)xp - (double)xm);
        const double excess = fabs(num - grad[i]) - (atol + rtol * fabs(num));
        if (!(excess <= 0.0))
            bad++;
        if (!(excess <= worst_excess)) {
            worst_excess = excess;
            worst = i;
            worst_num = num;
        }
    }
    loss(ctx); /* leave the context's outputs consistent with the unperturbed x */
    if (bad)
        fail_at(file, line, "%s: %zu/%zu gradients off, worst [%zu] analytic %.9g numeric %.9g",
                what, bad, n, worst, (double)grad[worst], worst_num);
}

int main(void)
{
    suite_gemm();
    suite_activation();
    suite_bias_activation();
    suite_softmax_ce();
    suite_policy_gradient();
    suite_layer_norm();
    suite_optimizer();
    suite_clip();
    suite_rng();
    suite_seeds();
    suite_seed_faults();
    suite_widen();
    suite_gemm_kernels();
    suite_conv1d();
    suite_conv_branch();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
