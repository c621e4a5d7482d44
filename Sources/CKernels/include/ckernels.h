/* ckernels.h — plain-C float32 numerical kernels for training small MLPs (Esper).
 *
 * Conventions (apply to every function below):
 *  - All matrices are row-major float32; "[R,C]" means R rows of C contiguous floats.
 *  - Buffers are owned by the caller; kernels never allocate and keep no hidden state.
 *  - Output buffers must not overlap input buffers (definitions use `restrict`) unless stated.
 *  - "overwritten" outputs are written without being read; "accumulated" outputs get `+=`.
 *  - Functions returning int return CK_OK (0) or a negative ck_status and write nothing on error;
 *    void functions have no invalid inputs beyond the documented preconditions.
 *  - Sizes: B = batch rows; softmax needs B, C >= 1, argmax C >= 1, layer norm N >= 1 and eps > 0.
 */
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CK_OK = 0,
    CK_ERR_NULL = -1,  /* a required pointer is NULL */
    CK_ERR_SIZE = -2,  /* inconsistent or too large size / leading dimension */
    CK_ERR_ARG = -3,   /* invalid scalar argument (enum, step, beta, eps, fan) */
    CK_ERR_LABEL = -4  /* class label outside [0, C) */
} ck_status;

typedef enum {
    CK_ACT_IDENTITY = 0,
    CK_ACT_RELU = 1,
    CK_ACT_GELU = 2, /* tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    CK_ACT_TANH = 3
} ck_activation;

/* ---- gemm.c ------------------------------------------------------------------------------ */

/* C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C; op = ^T if trans*; ld* = row strides; beta 0 overwrites C. */
int ck_sgemm(int transA, int transB, size_t M, size_t N, size_t K, float alpha, const float *A,
             size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);
/* Same contract as ck_sgemm in plain loops; always compiled (test reference and CK_NO_BLAS fallback). */
int ck_sgemm_reference(int transA, int transB, size_t M, size_t N, size_t K, float alpha,
                       const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                       size_t ldc);
/* Threads one ck_sgemm call may use, 1-64 (clamped): our packed kernels split a large GEMM across a
 * persistent pool of up to 8 threads; the OpenBLAS fallback gets the same count. */
void ck_blas_set_threads(int n);
/* Current GEMM thread count. */
int ck_blas_get_threads(void);

/* The GEMM implementations ck_sgemm can run on. AUTO = the fastest this CPU supports, chosen once by
 * CPUID: AVX512 (packed 8x32 microkernel), else AVX2 (+FMA), else BLAS (OpenBLAS), else REFERENCE. */
typedef enum {
    CK_GEMM_AUTO = 0,
    CK_GEMM_REFERENCE = 1, /* ck_sgemm_reference */
    CK_GEMM_BLAS = 2,      /* cblas_sgemm (absent under CK_NO_BLAS) */
    CK_GEMM_AVX2 = 3,      /* packed, AVX2 + FMA microkernel */
    CK_GEMM_AVX512 = 4     /* packed, AVX-512F microkernel */
} ck_gemm_kernel;
/* 1 if `kernel` can run on this CPU and build, else 0 (AUTO: 1). */
int ck_gemm_kernel_supported(ck_gemm_kernel kernel);
/* The kernel AUTO resolves to. */
ck_gemm_kernel ck_gemm_selected_kernel(void);
/* "reference", "blas", "avx2", "avx512" ("auto" for AUTO, "unknown" otherwise). */
const char *ck_gemm_kernel_name(ck_gemm_kernel kernel);
/* ck_sgemm on a chosen kernel with at most `threads` threads (>= 1; BLAS ignores it and uses
 * ck_blas_set_threads' count); CK_ERR_ARG if the kernel is not supported here or threads < 1. */
int ck_sgemm_with(ck_gemm_kernel kernel, int threads, int transA, int transB, size_t M, size_t N,
                  size_t K, float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                  float beta, float *C, size_t ldc);

/* out[B,n_out] = in[B,n_in] W^T + bias (overwritten); W is [n_out,n_in]; bias[n_out] nullable. */
int ck_linear_forward(float *out, const float *in, const float *W, const float *bias, size_t B,
                      size_t n_in, size_t n_out);
/* dIn = dOut W (overwritten, nullable); dW[n_out,n_in] += dOut^T in; dBias += colsum(dOut) (nullable). */
int ck_linear_backward(float *dIn, float *dW, float *dBias, const float *dOut, const float *in,
                       const float *W, size_t B, size_t n_in, size_t n_out);

/* ---- activation.c  (elementwise over n floats; y/dx overwritten) ------------------------- */

/* y = max(x, 0). */
void ck_relu_forward(float *y, const float *x, size_t n);
/* dx = dy * (x > 0); x is the forward input. */
void ck_relu_backward(float *dx, const float *dy, const float *x, size_t n);
/* y = gelu(x), tanh approximation. */
void ck_gelu_forward(float *y, const float *x, size_t n);
/* dx = dy * gelu'(x); x is the forward input. */
void ck_gelu_backward(float *dx, const float *dy, const float *x, size_t n);
/* y = tanh(x). */
void ck_tanh_forward(float *y, const float *x, size_t n);
/* dx = dy * (1 - y^2); y is the forward OUTPUT. */
void ck_tanh_backward(float *dx, const float *dy, const float *y, size_t n);

/* ---- bias_activation.c ------------------------------------------------------------------- */

/* z[B,N] += bias[N] in place (bias nullable; z keeps the pre-activation); y[B,N] = act(z) overwritten. */
int ck_bias_act_forward(ck_activation act, float *y, float *z, const float *bias, size_t B,
                        size_t N);
/* dz[B,N] = dy act'(z) (overwritten); dbias[N] += colsum(dz) (nullable); reads z (RELU, GELU) or y (TANH). */
int ck_bias_act_backward(ck_activation act, float *dz, float *dbias, const float *dy,
                         const float *z, const float *y, size_t B, size_t N);

/* ---- softmax_cross_entropy.c ------------------------------------------------------------- */

/* probs[B,C] = softmax(logits) (overwritten); *loss = mean_b -log probs[b,labels[b]]; labels in [0,C). */
int ck_softmax_ce_forward(float *loss, float *probs, const float *logits, const int32_t *labels,
                          size_t B, size_t C);
/* dlogits[B,C] = (probs - onehot(labels)) / B (overwritten): gradient of the mean loss. */
int ck_softmax_ce_backward(float *dlogits, const float *probs, const int32_t *labels, size_t B,
                           size_t C);
/* idx[B] = argmax of each row of x[B,C] overwritten (first index on ties); C >= 1. */
void ck_argmax_rows(int32_t *idx, const float *x, size_t B, size_t C);
/* Number of rows b of scores[B,C] whose argmax equals labels[b]; C >= 1. */
size_t ck_count_correct(const float *scores, const int32_t *labels, size_t B, size_t C);

/* ---- policy_gradient.c  (Simic's PPO; C <= 32 actions, bit j of mask[b] allows action j) --- */

/* Per row over allowed actions: logp = logits - logsumexp, probs = exp(logp), entropy[b] =
 * -sum p log p; disallowed entries get logp = probs = 0. CK_ERR_ARG if a row allows nothing. */
int ck_masked_log_softmax(float *logp, float *probs, float *entropy, const float *logits,
                          const uint32_t *mask, size_t B, size_t C);
/* PPO clipped surrogate: r = exp(new - old); *loss = -mean_b min(r A, clip(r, 1-eps, 1+eps) A);
 * coef[b] = d loss / d logp_new[b] (0 where the clipped term is the minimum); *clipped (nullable)
 * counts those rows. */
int ck_ppo_surrogate(float *loss, float *coef, size_t *clipped, const float *logp_new,
                     const float *logp_old, const float *advantage, float epsilon, size_t B);
/* dlogits[B,C] (overwritten) = gradient of sum_b coef[b] logp[b,actions[b]] + ent_w sum_b H_b,
 * from ck_masked_log_softmax's outputs; 0 on disallowed entries. CK_ERR_LABEL if an action is
 * out of range or not allowed. */
int ck_policy_logits_backward(float *dlogits, const float *probs, const float *logp,
                              const float *entropy, const int32_t *actions, const float *coef,
                              float ent_w, const uint32_t *mask, size_t B, size_t C);

/* ---- layer_norm.c ------------------------------------------------------------------------ */

/* Per row: y[B,N] = (x-mean) rstd gamma[N] + beta[N], rstd = 1/sqrt(var+eps); y, mean[B], rstd[B] written. */
int ck_layernorm_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                         const float *beta, float eps, size_t B, size_t N);
/* dx[B,N] overwritten; dgamma[N] += sum_b dy xhat; dbeta[N] += sum_b dy; mean/rstd saved by forward. */
int ck_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                          const float *mean, const float *rstd, const float *gamma, size_t B,
                          size_t N);

/* ---- optimizer.c  (param, m, v, velocity[n] updated in place; step = 1 for the first update) -- */

/* Adam with bias correction; weight_decay > 0 adds weight_decay * param to the gradient (L2). */
int ck_adam_step(float *param, float *m, float *v, const float *grad, size_t n, float lr,
                 float beta1, float beta2, float eps, float weight_decay, int64_t step);
/* AdamW: as Adam, but decoupled decay param *= 1 - lr * weight_decay before the Adam update. */
int ck_adamw_step(float *param, float *m, float *v, const float *grad, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step);
/* SGD: v = momentum v + grad + weight_decay param; param -= lr v (velocity v may be NULL if momentum == 0). */
int ck_sgd_step(float *param, float *velocity, const float *grad, size_t n, float lr,
                float momentum, float weight_decay);

/* ---- clip.c ------------------------------------------------------------------------------ */

/* sqrt of the sum of squares over `count` buffers bufs[k] of lens[k] floats (double accumulation). */
float ck_global_l2_norm(const float *const *bufs, const size_t *lens, size_t count);
/* Clip coefficient: max_norm / norm if norm > max_norm, else 1 (also 1 if norm is not finite). */
float ck_clip_scale(float norm, float max_norm);
/* Scales bufs in place by ck_clip_scale(global norm, max_norm); returns the pre-clip norm (check isfinite). */
float ck_clip_by_global_norm(float *const *bufs, const size_t *lens, size_t count, float max_norm);

/* ---- rng.c  (PCG32, O'Neill 2014: identical streams on every platform) ------------------ */

typedef struct {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} ck_rng;

/* Initialise (pcg32_srandom_r): same seed and stream give the same sequence everywhere. */
void ck_rng_seed(ck_rng *rng, uint64_t seed, uint64_t stream);
/* Next uniformly distributed 32-bit value. */
uint32_t ck_rng_next_u32(ck_rng *rng);
/* Uniform float in [0, 1) with 24 random bits (one u32). */
float ck_rng_uniform(ck_rng *rng);
/* Standard normal via Box–Muller in double (two u32 per call). */
float ck_rng_normal(ck_rng *rng);
/* w[n] = 0. */
void ck_init_zeros(float *w, size_t n);
/* w[n] ~ uniform on [lo, hi], overwritten. */
void ck_init_uniform(ck_rng *rng, float *w, size_t n, float lo, float hi);
/* w[n] ~ N(mean, std^2), overwritten (n calls of ck_rng_normal). */
void ck_init_normal(ck_rng *rng, float *w, size_t n, float mean, float std);
/* Xavier/Glorot uniform: w ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)); W[n_out,n_in]: fan_in = n_in. */
int ck_init_xavier_uniform(ck_rng *rng, float *w, size_t n, size_t fan_in, size_t fan_out);
/* Kaiming/He normal for ReLU: w ~ N(0, 2 / fan_in). */
int ck_init_kaiming_normal(ck_rng *rng, float *w, size_t n, size_t fan_in);
/* Kaiming/He uniform for ReLU: w ~ U(-b, b), b = sqrt(6 / fan_in). */
int ck_init_kaiming_uniform(ck_rng *rng, float *w, size_t n, size_t fan_in);

/* ---- seed_widen.c  (the widening seed: k new hidden units beside a host layer) ----------- */

/* Floats of U [k,n_in], c [k], V [n_out,k] (one buffer, in that order). */
size_t ck_widen_param_count(size_t n_in, size_t k, size_t n_out);
/* u[B,k] = relu(x U^T + c), s[B,n_out] = u V^T (both overwritten). */
int ck_widen_forward(float *s, float *u, const float *x, const float *params, size_t B, size_t n_in,
                     size_t k, size_t n_out);
/* dparams += dθ given ds; dx[B,n_in] = ∂L/∂x (overwritten, nullable); du: B*k floats scratch. */
int ck_widen_backward(float *dparams, float *dx, float *du, const float *ds, const float *x, const float *u,
                      const float *params, size_t B, size_t n_in, size_t k, size_t n_out);

/* ---- conv1d.c  (1-D convolution over channels-last signals; see the file for the method) --- */

/* Shape of one conv1d layer over a batch: x[batch, length, in_channels] (each position's channels
 * contiguous), W[out_channels, kernel, in_channels], bias[out_channels]; zero padding of pad_left
 * and pad_right positions; output y[batch, out_length, out_channels] with
 * out_length = (length + pad_left + pad_right - kernel) / stride + 1 (ck_conv1d_out_length). */
typedef struct {
    size_t batch, in_channels, length, out_channels, kernel, stride, pad_left, pad_right;
} ck_conv1d_dims;

/* Output positions of a conv1d; 0 if kernel or stride is 0 or the padded signal is shorter than
 * the kernel (nothing left). */
size_t ck_conv1d_out_length(size_t length, size_t kernel, size_t stride, size_t pad_left,
                            size_t pad_right);
/* 'same' padding (TensorFlow's rule): out_length = ceil(length / stride), the missing positions
 * split as evenly as possible with the extra one on the right. */
int ck_conv1d_same_padding(size_t length, size_t kernel, size_t stride, size_t *pad_left,
                           size_t *pad_right);
/* Floats of the im2col matrix (batch * out_length * kernel * in_channels); 0 if d is invalid. */
size_t ck_conv1d_cols_count(const ck_conv1d_dims *d);
/* z = conv(x, W) + bias (pre-activation, overwritten; bias nullable), y = act(z) (overwritten);
 * cols (ck_conv1d_cols_count floats) receives the im2col matrix the backward needs. */
int ck_conv1d_forward(float *y, float *z, float *cols, const float *x, const float *W,
                      const float *bias, ck_activation act, const ck_conv1d_dims *d);
/* From dy = dL/dy: dz (scratch, batch*out_length*out_channels, overwritten) = dy act'(z);
 * dW += dL/dW; dbias += dL/dbias (nullable); dx = dL/dx (overwritten; nullable, then dcols may be
 * NULL too) using dcols (ck_conv1d_cols_count floats of scratch). z, y, cols from the forward
 * (act as in ck_bias_act_backward: z for RELU/GELU, y for TANH). */
int ck_conv1d_backward(float *dx, float *dW, float *dbias, float *dz, float *dcols,
                       const float *dy, const float *z, const float *y, const float *cols,
                       const float *W, ck_activation act, const ck_conv1d_dims *d);

/* Which kernels compute a conv1d layer. AUTO (what ck_conv1d_forward / _backward use): DIRECT
 * when supported, else GEMM. GEMM: im2col + ck_sgemm, every CPU and shape. DIRECT: AVX-512F
 * kernels, or AVX2 + FMA ones on a CPU without AVX-512F (chosen by CPUID), for at most 32 output
 * channels with IDENTITY or RELU (bias and activation fused into the forward, col2im into the
 * input gradient, dcols left unwritten). Both give the same results up to float rounding; the
 * forward of either path feeds the backward of either. */
typedef enum { CK_CONV1D_AUTO = 0, CK_CONV1D_GEMM = 1, CK_CONV1D_DIRECT = 2 } ck_conv1d_path;
/* 1 if path can run d with act on this CPU (AUTO and GEMM always can). */
int ck_conv1d_path_supported(ck_conv1d_path path, const ck_conv1d_dims *d, ck_activation act);
/* ck_conv1d_forward / ck_conv1d_backward on a chosen path; CK_ERR_ARG for a path that is not
 * supported for d and act. */
int ck_conv1d_forward_with(ck_conv1d_path path, float *y, float *z, float *cols, const float *x,
                           const float *W, const float *bias, ck_activation act,
                           const ck_conv1d_dims *d);
int ck_conv1d_backward_with(ck_conv1d_path path, float *dx, float *dW, float *dbias, float *dz,
                            float *dcols, const float *dy, const float *z, const float *y,
                            const float *cols, const float *W, ck_activation act,
                            const ck_conv1d_dims *d);

/* ---- seed_conv_branch.c  (the conv-branch structural seed; see the file) ------------------- */

#define CK_CONV_BRANCH_MAX_LAYERS 3

/* `layers` conv1d layers (ReLU) of `channels` channels, kernels[i], one stride and symmetric
 * padding (< each kernel) over x[batch, length, in_channels], flattened, times V^T into
 * out[batch, outputs]. */
typedef struct {
    size_t batch, length, in_channels, channels, layers, stride, padding, outputs;
    size_t kernels[CK_CONV_BRANCH_MAX_LAYERS];
} ck_conv_branch_shape;

/* Floats per example of the flattened last conv output; 0 if the shape is invalid or a layer
 * has nothing left to read. */
size_t ck_conv_branch_flat_width(const ck_conv_branch_shape *s);
/* Floats of W_1, b_1, …, W_L, b_L, V; 0 if the shape is invalid. */
size_t ck_conv_branch_param_count(const ck_conv_branch_shape *s);
/* Floats of the work buffer for s->batch rows; 0 if the shape is invalid. */
size_t ck_conv_branch_work_count(const ck_conv_branch_shape *s);
/* out[batch, outputs] = the branch over x (overwritten); work keeps what the backward needs. */
int ck_conv_branch_forward(float *out, float *work, const float *x, const float *params,
                           const ck_conv_branch_shape *s);
/* After the forward on the same x: dparams += dθ given dout; dx = ∂L/∂x (overwritten, nullable:
 * NULL for the detached input of a seed). */
int ck_conv_branch_backward(float *dparams, float *dx, float *work, const float *dout, const float *x,
                            const float *params, const ck_conv_branch_shape *s);

#ifdef __cplusplus
}
#endif

#endif /* CKERNELS_H */
