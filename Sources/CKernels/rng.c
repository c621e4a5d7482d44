/* rng.c — deterministic random numbers and weight initialisers.
 *
 * PCG32 (XSH-RR 64/32, M. E. O'Neill, pcg-random.org) gives the same integer stream on every
 * machine; floats are derived with exact integer-to-float scaling, and Box–Muller is evaluated in
 * double before rounding to float so libm differences cannot change the float results in practice.
 * No libc rand and no global state: the caller owns the ck_rng struct.
 */
#include "ckernels.h"

#include <math.h>

#define TWO_PI 6.283185307179586

uint32_t ck_rng_next_u32(ck_rng *rng)
{
    const uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    const uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    const uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

void ck_rng_seed(ck_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0u;
    rng->inc = (stream << 1u) | 1u;
    ck_rng_next_u32(rng);
    rng->state += seed;
    ck_rng_next_u32(rng);
}

float ck_rng_uniform(ck_rng *rng)
{
    return (float)(ck_rng_next_u32(rng) >> 8) * 0x1.0p-24f;
}

float ck_rng_normal(ck_rng *rng)
{
    const double u1 = ((ck_rng_next_u32(rng) >> 8) + 1.0) * 0x1.0p-24; /* (0, 1]: log is finite */
    const double u2 = (ck_rng_next_u32(rng) >> 8) * 0x1.0p-24;
    return (float)(sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2));
}

void ck_init_zeros(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w[i] = 0.0f;
}

void ck_init_uniform(ck_rng *rng, float *w, size_t n, float lo, float hi)
{
    const float range = hi - lo;
    for (size_t i = 0; i < n; i++)
        w[i] = lo + range * ck_rng_uniform(rng);
}

void ck_init_normal(ck_rng *rng, float *w, size_t n, float mean, float std)
{
    for (size_t i = 0; i < n; i++)
        w[i] = mean + std * ck_rng_normal(rng);
}

int ck_init_xavier_uniform(ck_rng *rng, float *w, size_t n, size_t fan_in, size_t fan_out)
{
    if (fan_in == 0 || fan_out == 0)
        return CK_ERR_ARG;
    if (!rng || (n && !w))
        return CK_ERR_NULL;
    const float a = (float)sqrt(6.0 / ((double)fan_in + (double)fan_out));
    ck_init_uniform(rng, w, n, -a, a);
    return CK_OK;
}

int ck_init_kaiming_normal(ck_rng *rng, float *w, size_t n, size_t fan_in)
{
    if (fan_in == 0)
        return CK_ERR_ARG;
    if (!rng || (n && !w))
        return CK_ERR_NULL;
    ck_init_normal(rng, w, n, 0.0f, (float)sqrt(2.0 / (double)fan_in));
    return CK_OK;
}

int ck_init_kaiming_uniform(ck_rng *rng, float *w, size_t n, size_t fan_in)
{
    if (fan_in == 0)
        return CK_ERR_ARG;
    if (!rng || (n && !w))
        return CK_ERR_NULL;
    const float b = (float)sqrt(6.0 / (double)fan_in);
    ck_init_uniform(rng, w, n, -b, b);
    return CK_OK;
}
