/* seed_reference.h — naive double-precision forward passes of the seed kinds (test oracle). */
#ifndef CK_SEED_REFERENCE_H
#define CK_SEED_REFERENCE_H

#include "ckernels_seeds.h"
#include "test_util.h"

/* y[B, d] (double) = the kind's function of x; returns 0 if the kind has no reference. */
int seed_reference_forward(const ck_seed_spec *s, const float *params, const ck_seed_runtime *rt,
                           const float *x, size_t B, double *y);

#endif
