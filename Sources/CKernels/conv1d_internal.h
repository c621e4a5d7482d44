/* conv1d_internal.h — what conv1d.c shares with the direct conv1d kernels (conv1d_direct.c for
 * AVX-512, conv1d_direct_avx2.c for AVX2), and the selector tests and benches use to force one. */
#ifndef CK_CONV1D_INTERNAL_H
#define CK_CONV1D_INTERNAL_H

#include "ckernels.h"

/* Taps [*k0, *k1) of output position t read real positions (the rest read padding); the
 * positions they read, t·stride + k − pad_left, are contiguous, and so are their channels. */
void ck_conv1d_tap_range(const ck_conv1d_dims *d, size_t t, size_t *k0, size_t *k1);

/* Adds elements [p0, p1) of row r of dcols (part[0] is element p0) into dx at the positions that row
 * read, skipping its padding taps: col2im of one piece of a row. */
void ck_conv1d_add_row_taps(float *dx, const float *part, const ck_conv1d_dims *d, size_t out,
                            size_t r, size_t p0, size_t p1);

/* The instruction set the direct kernels run on: CK_GEMM_AVX512 or CK_GEMM_AVX2, the best this CPU
 * has (CK_GEMM_AUTO when it has neither: no direct path), unless ck_conv1d_direct_force chose. */
ck_gemm_kernel ck_conv1d_direct_isa(void);
/* Tests and benches only (the product never calls it): run the direct kernels on isa
 * (CK_GEMM_AVX512 or CK_GEMM_AVX2) from now on, process-wide, or CK_GEMM_AUTO to return to CPUID's
 * choice. CK_ERR_ARG, nothing changed, for an isa this CPU cannot run. Not for concurrent use. */
int ck_conv1d_direct_force(ck_gemm_kernel isa);

/* 1 when the direct kernels can run d with act here (AVX-512F or AVX2 + FMA, at most 32 output
 * channels, IDENTITY or RELU). */
int ck_conv1d_direct_supported(const ck_conv1d_dims *d, ck_activation act);

/* W^T [taps][32], zero-padded, 64-byte aligned (free() it); NULL if it cannot be allocated. */
float *ck_conv1d_pack_wt(const float *W, size_t taps, size_t cout);

/* d validated, out = its output length, cols = the im2col matrix, buffers sized as in ckernels.h.
 * Forward: z = cols W^T + bias, y = act(z); CK_ERR_SIZE if the packed W^T cannot be allocated. */
int ck_conv1d_direct_forward(float *y, float *z, const float *cols, const float *W,
                             const float *bias, ck_activation act, const ck_conv1d_dims *d,
                             size_t out);
/* dz = dy act'(z) (overwritten), dbias += colsum(dz) (nullable). */
void ck_conv1d_direct_act_grad(float *dz, float *dbias, const float *dy, const float *z,
                               ck_activation act, const ck_conv1d_dims *d, size_t out);
/* dW += dz^T cols. */
void ck_conv1d_direct_weight_grad(float *dW, const float *dz, const float *cols,
                                  const ck_conv1d_dims *d, size_t out);
/* dx = col2im(dz W) (overwritten). */
void ck_conv1d_direct_input_grad(float *dx, const float *dz, const float *W,
                                 const ck_conv1d_dims *d, size_t out);

/* The four products on AVX2 + FMA (conv1d_direct_avx2.c), called by the ck_conv1d_direct_*
 * functions when ck_conv1d_direct_isa() is CK_GEMM_AVX2: rows = batch · out, taps = K · C_in,
 * cout <= 32, wt from ck_conv1d_pack_wt, relu = act is RELU (else IDENTITY). */
void ck_conv1d_avx2_forward_rows(float *y, float *z, const float *cols, const float *wt,
                                 const float *bias, int relu, size_t rows, size_t taps, size_t cout);
void ck_conv1d_avx2_act_grad(float *dz, float *dbias, const float *dy, const float *z, int relu,
                             size_t rows, size_t cout);
void ck_conv1d_avx2_weight_grad(float *dW, const float *dz, const float *cols, size_t rows,
                                size_t taps, size_t cout);
void ck_conv1d_avx2_input_grad(float *dx, const float *dz, const float *W, const ck_conv1d_dims *d,
                               size_t out);

#endif
