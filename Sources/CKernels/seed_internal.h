/* seed_internal.h — what the seed-kernel files share: the per-kind operation table, the tensor
 * table builder, and the variant-aware building blocks (GEMM, linear layer, activations,
 * softmax). Not part of the public API. */
#ifndef CK_SEED_INTERNAL_H
#define CK_SEED_INTERNAL_H

#include "ckernels_seeds.h"

#include <math.h>
#include <string.h>

/* Largest batch one call accepts: keeps every size product far from overflow. */
#define SEED_MAX_BATCH ((size_t)1 << 24)
/* Batch-norm epsilon (not a template parameter). */
#define SEED_BN_EPS 1e-5f

/* Spec fields a kind reads; every other field must be zero. */
enum {
    USES_HIDDEN = 1u << 0,
    USES_COUNT = 1u << 1,
    USES_ROUNDS = 1u << 2,
    USES_WINDOW = 1u << 3,
    USES_DILATION = 1u << 4,
    USES_TOP_K = 1u << 5,
    USES_ACTIVATION = 1u << 6,
    USES_CAUSAL = 1u << 7,
    USES_ITERATIONS = 1u << 8,
    USES_SCALAR = 1u << 9,
};

#define VARIANTS_MATMUL ((1u << CK_VARIANT_NAIVE) | (1u << CK_VARIANT_BLAS) | (1u << CK_VARIANT_TILED))
#define VARIANTS_ELEMENTWISE ((1u << CK_VARIANT_SCALAR) | (1u << CK_VARIANT_VECTOR))
#define VARIANTS_SINGLE (1u << CK_VARIANT_NAIVE)

typedef struct {
    ck_seed_tensor t[CK_SEED_MAX_TENSORS];
    size_t n;
    size_t floats;
} seed_table;

/* Everything a kind's forward/backward needs for one call. */
typedef struct {
    const ck_seed_spec *s;
    const seed_table *tab;
    const float *params;
    ck_seed_runtime *rt;
    float *ws;
    size_t B;
} seed_ctx;

typedef struct {
    uint32_t kind;
    uint32_t uses;     /* USES_* */
    uint32_t variants; /* accepted ck_seed_variant bits */
    /* Kind-specific shape rules on a spec whose generic fields are already valid. */
    int (*check)(const ck_seed_spec *s);
    void (*table)(const ck_seed_spec *s, seed_table *t);
    size_t (*workspace)(const ck_seed_spec *s, size_t B);
    size_t (*state)(const ck_seed_spec *s); /* NULL: no state */
    double (*flops)(const ck_seed_spec *s, size_t B);
    int (*forward)(const seed_ctx *c, float *y, const float *x);
    int (*backward)(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x);
} seed_kind_ops;

/* The tensor `i` of the parameter (or gradient) buffer. */
static inline const float *seed_param(const seed_ctx *c, size_t i) { return c->params + c->tab->t[i].offset; }
static inline float *seed_grad(const seed_ctx *c, float *dparams, size_t i) { return dparams + c->tab->t[i].offset; }

/* Appends a tensor; unused dims are 1. */
void seed_table_add(seed_table *t, const char *name, uint32_t ndim, size_t d0, size_t d1, size_t d2,
                    uint32_t init, float init_value, size_t fan_in);

/* Table builder of kinds without parameters. */
void seed_no_tensors(const ck_seed_spec *s, seed_table *t);

/* GEMM through the spec's variant (ck_sgemm contract). */
int seed_gemm(const ck_seed_spec *s, int transA, int transB, size_t M, size_t N, size_t K, float alpha,
              const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);
/* out[B, n_out] (row stride ldo) = alpha (in[B, n_in] (stride ldi) W^T + bias); bias nullable. */
int seed_linear_fwd(const ck_seed_spec *s, float *out, size_t ldo, const float *in, size_t ldi,
                    const float *W, const float *bias, size_t B, size_t n_in, size_t n_out, float alpha);
/* dW += alpha dOut^T in; dBias += alpha colsum(dOut) (nullable);
 * dIn = alpha dOut W (accumulate: +=; dIn nullable). */
int seed_linear_bwd(const ck_seed_spec *s, float *dIn, size_t ldin, int accumulate, float *dW, float *dBias,
                    const float *dOut, size_t ldo, const float *in, size_t ldi, const float *W, size_t B,
                    size_t n_in, size_t n_out, float alpha);

/* y = act(z) over n floats (in place allowed). */
void seed_act_fwd(uint32_t act, float *y, const float *z, size_t n);
/* dz = dy * act'(z) over n floats (dz may alias dy). */
void seed_act_bwd(uint32_t act, float *dz, const float *dy, const float *z, size_t n);
/* Row-wise numerically stable softmax in place over rows x n. */
void seed_softmax_rows(float *p, size_t rows, size_t n);
/* dS = P * (dP - rowsum(dP * P)) * scale, in place into dP. */
void seed_softmax_bwd_rows(float *dP, const float *P, size_t rows, size_t n, float scale);
/* Column sums of g[B, n] (stride ld) added to out[n], scaled. */
void seed_colsum_add(float *out, const float *g, size_t B, size_t n, size_t ld, float alpha);
/* 64-bit finaliser (SplitMix64's mixing function). */
uint64_t seed_mix64(uint64_t x);
static inline float seed_sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }
/* Validated activation id (identity, relu, gelu, tanh). */
static inline int seed_activation_ok(uint32_t a) { return a <= (uint32_t)CK_ACT_TANH; }

extern const seed_kind_ops seed_identity_ops, seed_linear_ops, seed_layer_norm_ops, seed_dropout_ops,
    seed_activation_ops, seed_batch_norm_ops, seed_max_pool_ops, seed_layer_scale_ops,
    seed_grouped_linear_ops, seed_highway_ops, seed_residual_mlp_ops, seed_gated_ffn_ops, seed_conv1d_ops,
    seed_squeeze_excite_ops, seed_slice_attention_ops, seed_memory_attention_ops, seed_mixture_ops,
    seed_pool_project_ops, seed_dense_block_ops, seed_positional_ops, seed_recurrent_ops,
    seed_nas_mixture_ops, seed_fault_exploding_ops, seed_fault_vanishing_ops, seed_fault_nan_ops,
    seed_fault_spin_ops, seed_fault_leak_ops, seed_fault_deadlock_ops, seed_fault_race_ops,
    seed_fault_noise_ops, seed_fault_hang_ops;

#endif
