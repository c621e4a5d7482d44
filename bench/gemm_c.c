/* gemm_c.c — the SGEMM candidates side by side, in one process, on the GEMMs of one training step
 * of the MLP 784-256-256-10 at batch 128 (forward x W^T, backward dOut W and dOut^T x).
 *
 * Candidates: each ck_sgemm kernel this CPU supports (OpenBLAS as the environment configures it,
 * e.g. OPENBLAS_CORETYPE=Haswell; our packed AVX2 and AVX-512 microkernels), BLIS (libblis, its
 * run-time kernel selection; the chosen configuration is printed) and oneDNN's dnnl_sgemm. BLIS and
 * oneDNN are loaded with dlopen so their BLAS symbols never shadow OpenBLAS; a library that is
 * not installed is reported as unavailable.
 *
 * usage: gemm_c THREADS      prints one line per shape and candidate (us per call: wall median and minimum, CPU-time median, of 31),
 *                            then per candidate the sums over one step's GEMMs:
 *                            "step_gemms <name> threads=N wall_median_us= wall_min_us= cpu_median_us="
 */
#define _POSIX_C_SOURCE 200809L
#include "ckernels.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *name;
    int ta, tb;
    size_t M, N, K;
    float beta;
} shape;

static const shape shapes[] = {
    {"fwd1 x.W1^T", 0, 1, 128, 256, 784, 0.0f}, {"fwd2 h1.W2^T", 0, 1, 128, 256, 256, 0.0f},
    {"fwd3 h2.W3^T", 0, 1, 128, 10, 256, 1.0f}, {"dIn3 d.W3", 0, 0, 128, 256, 10, 0.0f},
    {"dW3 d^T.h2", 1, 0, 10, 256, 128, 1.0f},   {"dIn2 d.W2", 0, 0, 128, 256, 256, 0.0f},
    {"dW2 d^T.h1", 1, 0, 256, 256, 128, 1.0f},  {"dW1 d^T.x", 1, 0, 256, 784, 128, 1.0f},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

/* BLIS typed API (blis.h): dim_t/inc_t are int64, trans_t BLIS_NO_TRANSPOSE = 0, BLIS_TRANSPOSE = 8. */
typedef void (*bli_sgemm_fn)(int, int, int64_t, int64_t, int64_t, const float *, const float *,
                             int64_t, int64_t, const float *, int64_t, int64_t, const float *,
                             float *, int64_t, int64_t);
typedef void (*bli_threads_fn)(int64_t);
typedef int (*bli_arch_id_fn)(void);
typedef const char *(*bli_arch_string_fn)(int);
/* oneDNN (dnnl.h): row-major sgemm with 'N'/'T'. */
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t,
                             const float *, int64_t, float, float *, int64_t);
typedef void (*omp_threads_fn)(int);

static bli_sgemm_fn bli_sgemm;
static dnnl_sgemm_fn dnnl_sgemm;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* CPU time of the whole process: on a shared machine it leaves out the time this process waited
 * for a core (the wall clock does not), so 1-thread figures stay comparable under load. */
static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *name;
    int kind; /* 0: ck kernel, 1: blis, 2: onednn */
    ck_gemm_kernel kernel;
} candidate;

static int threads = 1;

static void call(const candidate *c, const shape *s, const float *A, const float *B, float *C)
{
    const size_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    if (c->kind == 0) {
        ck_sgemm_with(c->kernel, threads, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb,
                      s->beta, C, s->N);
    } else if (c->kind == 1) {
        const float one = 1.0f;
        bli_sgemm(s->ta ? 8 : 0, s->tb ? 8 : 0, (int64_t)s->M, (int64_t)s->N, (int64_t)s->K, &one,
                  A, (int64_t)lda, 1, B, (int64_t)ldb, 1, &s->beta, C, (int64_t)s->N, 1);
    } else {
        dnnl_sgemm(s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', (int64_t)s->M, (int64_t)s->N,
                   (int64_t)s->K, 1.0f, A, (int64_t)lda, B, (int64_t)ldb, s->beta, C,
                   (int64_t)s->N);
    }
}

int main(int argc, char **argv)
{
    threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1)
        threads = 1;
    ck_blas_set_threads(threads);
    candidate cands[8];
    int n = 0;
    const ck_gemm_kernel kernels[] = {CK_GEMM_BLAS, CK_GEMM_AVX2, CK_GEMM_AVX512};
    for (int i = 0; i < 3; i++)
        if (ck_gemm_kernel_supported(kernels[i]))
            cands[n++] = (candidate){kernels[i] == CK_GEMM_BLAS ? "openblas" : ck_gemm_kernel_name(kernels[i]),
                                     0, kernels[i]};
    void *blis = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL);
    if (blis && (bli_sgemm = (bli_sgemm_fn)dlsym(blis, "bli_sgemm"))) {
        bli_threads_fn set = (bli_threads_fn)dlsym(blis, "bli_thread_set_num_threads");
        bli_arch_id_fn id = (bli_arch_id_fn)dlsym(blis, "bli_arch_query_id");
        bli_arch_string_fn str = (bli_arch_string_fn)dlsym(blis, "bli_arch_string");
        if (set)
            set(threads);
        printf("blis kernel configuration: %s\n", id && str ? str(id()) : "?");
        cands[n++] = (candidate){"blis", 1, CK_GEMM_AUTO};
    } else {
        printf("blis: unavailable\n");
    }
    void *dnnl = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (dnnl && (dnnl_sgemm = (dnnl_sgemm_fn)dlsym(dnnl, "dnnl_sgemm"))) {
        void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
        omp_threads_fn set = gomp ? (omp_threads_fn)dlsym(gomp, "omp_set_num_threads") : NULL;
        if (set)
            set(threads);
        cands[n++] = (candidate){"onednn", 2, CK_GEMM_AUTO};
    } else {
        printf("onednn: unavailable\n");
    }
    printf("ck_sgemm selects: %s, threads=%d\n", ck_gemm_kernel_name(ck_gemm_selected_kernel()), threads);

    float *A = malloc(784 * 256 * sizeof(float)), *B = malloc(784 * 256 * sizeof(float));
    float *C = malloc(784 * 256 * sizeof(float));
    for (size_t i = 0; i < 784 * 256; i++) {
        A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        C[i] = 0.0f;
    }
    /* Candidates are interleaved within every repetition; short repetitions, many of them. The
     * median wall time is the usual figure; the minimum is the least disturbed one on a shared
     * machine, and process CPU time (median) leaves out waiting for a core — it is comparable to
     * wall time with 1 thread only (2 threads add both threads' CPU time). */
    double total[8] = {0}, total_min[8] = {0}, total_cpu[8] = {0};
    enum { REPS = 31 };
    for (int s = 0; s < NSHAPES; s++) {
        const shape *sh = &shapes[s];
        const int calls = (int)(5e6 / (double)(sh->M * sh->N * sh->K)) + 2;
        double reps[8][REPS], cpu[8][REPS];
        for (int c = 0; c < n; c++)
            for (int w = 0; w < 10 * calls; w++)
                call(&cands[c], sh, A, B, C);
        for (int r = 0; r < REPS; r++)
            for (int c = 0; c < n; c++) {
                const double t0 = now_us(), c0 = cpu_us();
                for (int w = 0; w < calls; w++)
                    call(&cands[c], sh, A, B, C);
                reps[c][r] = (now_us() - t0) / calls;
                cpu[c][r] = (cpu_us() - c0) / calls;
            }
        for (int c = 0; c < n; c++) {
            qsort(reps[c], REPS, sizeof(double), cmp);
            qsort(cpu[c], REPS, sizeof(double), cmp);
            total[c] += reps[c][REPS / 2];
            total_min[c] += reps[c][0];
            total_cpu[c] += cpu[c][REPS / 2];
            printf("%-14s %3zux%3zux%3zu %-9s wall median %8.2f us  min %8.2f us (%6.1f GFLOP/s)  cpu %8.2f us\n",
                   sh->name, sh->M, sh->N, sh->K, cands[c].name, reps[c][REPS / 2], reps[c][0],
                   2e-3 * (double)(sh->M * sh->N * sh->K) / reps[c][0], cpu[c][REPS / 2]);
        }
    }
    for (int c = 0; c < n; c++)
        printf("step_gemms %-9s threads=%d wall_median_us=%.1f wall_min_us=%.1f cpu_median_us=%.1f\n",
               cands[c].name, threads, total[c], total_min[c], total_cpu[c]);
    free(A);
    free(B);
    free(C);
    return 0;
}
