/* seed_reference.c — naive double-precision forward passes of every honest seed kind, written
 * directly from the formulas in ckernels_seeds.h (plain loops, no GEMM, no im2col, no shared
 * code with the kernels), for the tests to compare the real kernels against. */
#include "seed_reference.h"

#include <stdlib.h>

static double act(uint32_t a, double z)
{
    switch (a) {
    case CK_ACT_RELU: return z > 0 ? z : 0;
    case CK_ACT_GELU: return 0.5 * z * (1.0 + tanh(0.7978845608028654 * (z + 0.044715 * z * z * z)));
    case CK_ACT_TANH: return tanh(z);
    default: return z;
    }
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* out[r, o] = sum_i in[r, i] W[o, i] + b[o] over `rows` rows (in has row stride ldi). */
static void lin(double *out, const double *in, size_t ldi, const float *W, const float *b, size_t rows,
                size_t n_in, size_t n_out)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t o = 0; o < n_out; o++) {
            double s = b ? b[o] : 0.0;
            for (size_t i = 0; i < n_in; i++)
                s += in[r * ldi + i] * W[o * n_in + i];
            out[r * n_out + o] = s;
        }
}

static void softmax(double *p, size_t n)
{
    double m = p[0], s = 0;
    for (size_t i = 1; i < n; i++)
        m = p[i] > m ? p[i] : m;
    for (size_t i = 0; i < n; i++)
        s += (p[i] = exp(p[i] - m));
    for (size_t i = 0; i < n; i++)
        p[i] /= s;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The tensor named `name` in the spec's table. */
static const float *T(const ck_seed_spec *s, const float *params, const char *name)
{
    const size_t n = ck_seed_tensor_count(s);
    for (size_t i = 0; i < n; i++) {
        ck_seed_tensor t;
        ck_seed_tensor_info(s, i, &t);
        if (strcmp(t.name, name) == 0)
            return params + t.offset;
    }
    fprintf(stderr, "reference: no tensor %s\n", name);
    exit(2);
}

static double *dalloc(size_t n) { return talloc_bytes((n ? n : 1) * sizeof(double)); }

int seed_reference_forward(const ck_seed_spec *s, const float *params, const ck_seed_runtime *rt,
                           const float *xf, size_t B, double *y)
{
    const size_t d = s->d, n = B * d;
    double *x = dalloc(n);
    for (size_t i = 0; i < n; i++)
        x[i] = xf[i];
    switch (s->kind) {
    case CK_SEED_IDENTITY:
        memcpy(y, x, n * sizeof(double));
        return 1;
    case CK_SEED_LINEAR:
        lin(y, x, d, T(s, params, "w"), T(s, params, "b"), B, d, d);
        for (size_t i = 0; i < n; i++)
            y[i] *= s->scalar;
        return 1;
    case CK_SEED_LAYER_NORM: {
        const float *g = T(s, params, "gamma"), *be = T(s, params, "beta");
        for (size_t b = 0; b < B; b++) {
            double mu = 0, var = 0;
            for (size_t j = 0; j < d; j++)
                mu += x[b * d + j] / d;
            for (size_t j = 0; j < d; j++)
                var += (x[b * d + j] - mu) * (x[b * d + j] - mu) / d;
            for (size_t j = 0; j < d; j++)
                y[b * d + j] = (x[b * d + j] - mu) / sqrt(var + s->scalar) * g[j] + be[j];
        }
        return 1;
    }
    case CK_SEED_DROPOUT: {
        const double p = s->scalar;
        const uint64_t key = mix64(rt->seed ^ (rt->step * 0x9E3779B97F4A7C15ULL));
        for (size_t i = 0; i < n; i++) {
            const double u = (double)(mix64(key + (uint64_t)i * 0xD1B54A32D192ED03ULL) >> 40) * 0x1.0p-24;
            y[i] = !rt->training ? x[i] : (u >= p ? x[i] / (1.0 - p) : 0.0);
        }
        return 1;
    }
    case CK_SEED_ACTIVATION:
        for (size_t i = 0; i < n; i++)
            y[i] = act(s->activation, x[i]);
        return 1;
    case CK_SEED_BATCH_NORM: {
        const float *g = T(s, params, "gamma"), *be = T(s, params, "beta");
        for (size_t j = 0; j < d; j++) {
            double mu = 0, var = 0;
            if (rt->training) {
                for (size_t b = 0; b < B; b++)
                    mu += x[b * d + j] / B;
                for (size_t b = 0; b < B; b++)
                    var += (x[b * d + j] - mu) * (x[b * d + j] - mu) / B;
            } else {
                mu = rt->state[j];
                var = rt->state[d + j];
            }
            for (size_t b = 0; b < B; b++)
                y[b * d + j] = (x[b * d + j] - mu) / sqrt(var + 1e-5) * g[j] + be[j];
        }
        return 1;
    }
    case CK_SEED_MAX_POOL: {
        const long k = s->window, left = (k - 1) / 2;
        for (size_t b = 0; b < B; b++)
            for (long i = 0; i < (long)d; i++) {
                double m = -INFINITY;
                for (long j = i - left; j < i - left + k; j++)
                    if (j >= 0 && j < (long)d && x[b * d + j] > m)
                        m = x[b * d + j];
                y[b * d + i] = m;
            }
        return 1;
    }
    case CK_SEED_LAYER_SCALE: {
        const float *g = T(s, params, "gamma");
        for (size_t i = 0; i < n; i++)
            y[i] = g[i % d] * x[i];
        return 1;
    }
    case CK_SEED_POSITIONAL: {
        const float *p = T(s, params, "position");
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] + p[i % d];
        return 1;
    }
    case CK_SEED_GROUPED_LINEAR: {
        const size_t e = d / s->count;
        const float *W = T(s, params, "w"), *bias = T(s, params, "b");
        for (size_t b = 0; b < B; b++)
            for (size_t g = 0; g < s->count; g++)
                for (size_t o = 0; o < e; o++) {
                    double acc = bias[g * e + o];
                    for (size_t i = 0; i < e; i++)
                        acc += W[g * e * e + o * e + i] * x[b * d + g * e + i];
                    y[b * d + g * e + o] = acc;
                }
        return 1;
    }
    case CK_SEED_HIGHWAY: {
        double *zh = dalloc(n), *zt = dalloc(n);
        lin(zh, x, d, T(s, params, "w_h"), T(s, params, "b_h"), B, d, d);
        lin(zt, x, d, T(s, params, "w_t"), T(s, params, "b_t"), B, d, d);
        for (size_t i = 0; i < n; i++) {
            const double t = sigmoid(zt[i]);
            y[i] = t * act(CK_ACT_RELU, zh[i]) + (1 - t) * x[i];
        }
        return 1;
    }
    case CK_SEED_RESIDUAL_MLP: {
        static const char *w[] = {"w0", "w1", "w2", "w3", "w4", "w5"}, *bn[] = {"b0", "b1", "b2", "b3", "b4", "b5"};
        const size_t h = s->hidden;
        double *a = dalloc(B * (h > d ? h : d)), *z = dalloc(B * (h > d ? h : d));
        memcpy(a, x, n * sizeof(double));
        size_t in = d;
        for (size_t l = 0; l < s->count; l++) {
            lin(z, a, in, T(s, params, w[l]), T(s, params, bn[l]), B, in, h);
            for (size_t i = 0; i < B * h; i++)
                a[i] = act(s->activation, z[i]);
            in = h;
        }
        lin(y, a, in, T(s, params, "w_out"), T(s, params, "b_out"), B, in, d);
        for (size_t i = 0; i < n; i++)
            y[i] += x[i];
        return 1;
    }
    case CK_SEED_GATED_FFN: {
        const size_t h = s->hidden;
        double *u = dalloc(B * h), *v = dalloc(B * h);
        lin(u, x, d, T(s, params, "w1"), T(s, params, "b1"), B, d, h);
        lin(v, x, d, T(s, params, "v"), T(s, params, "c"), B, d, h);
        for (size_t i = 0; i < B * h; i++)
            u[i] = act(s->activation, u[i]) * v[i];
        lin(y, u, h, T(s, params, "w2"), T(s, params, "b2"), B, h, d);
        for (size_t i = 0; i < n; i++)
            y[i] += x[i];
        return 1;
    }
    case CK_SEED_CONV1D: {
        const long k = s->window, dil = s->dilation, C = s->hidden;
        const long left = (s->causal ? k - 1 : (k - 1) / 2) * dil;
        const float *w1 = T(s, params, "w1"), *b1 = T(s, params, "b1"), *w2 = T(s, params, "w_out"),
                    *b2 = T(s, params, "b_out");
        for (size_t b = 0; b < B; b++)
            for (long i = 0; i < (long)d; i++) {
                double out = b2[0];
                for (long ch = 0; ch < C; ch++) {
                    double z = b1[ch];
                    for (long j = 0; j < k; j++) {
                        const long p = i - left + j * dil;
                        if (p >= 0 && p < (long)d)
                            z += w1[ch * k + j] * x[b * d + p];
                    }
                    out += w2[ch] * act(s->activation, z);
                }
                y[b * d + i] = x[b * d + i] + out;
            }
        return 1;
    }
    case CK_SEED_SQUEEZE_EXCITE: {
        const size_t h = s->hidden;
        double *z1 = dalloc(B * h), *z2 = dalloc(n);
        lin(z1, x, d, T(s, params, "w1"), T(s, params, "b1"), B, d, h);
        for (size_t i = 0; i < B * h; i++)
            z1[i] = act(CK_ACT_RELU, z1[i]);
        lin(z2, z1, h, T(s, params, "w2"), T(s, params, "b2"), B, h, d);
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * 2.0 * sigmoid(z2[i]);
        return 1;
    }
    case CK_SEED_SLICE_ATTENTION: {
        const size_t Tk = s->count, e = d / Tk;
        const float *wq = T(s, params, "w_q"), *wk = T(s, params, "w_k"), *wv = T(s, params, "w_v"),
                    *wo = T(s, params, "w_o"), *bo = T(s, params, "b_o");
        double *X = dalloc(n), *q = dalloc(e), *kk = dalloc(Tk * e), *vv = dalloc(Tk * e), *p = dalloc(Tk),
               *o = dalloc(e), *z = dalloc(e), *next = dalloc(n);
        memcpy(X, x, n * sizeof(double));
        for (size_t r = 0; r < s->rounds; r++) {
            for (size_t b = 0; b < B; b++) {
                const double *Xb = X + b * d;
                lin(kk, Xb, e, wk, NULL, Tk, e, e);
                lin(vv, Xb, e, wv, NULL, Tk, e, e);
                for (size_t t = 0; t < Tk; t++) {
                    lin(q, Xb + t * e, e, wq, NULL, 1, e, e);
                    for (size_t u = 0; u < Tk; u++) {
                        p[u] = 0;
                        for (size_t i = 0; i < e; i++)
                            p[u] += q[i] * kk[u * e + i] / sqrt((double)e);
                    }
                    softmax(p, Tk);
                    for (size_t i = 0; i < e; i++) {
                        o[i] = 0;
                        for (size_t u = 0; u < Tk; u++)
                            o[i] += p[u] * vv[u * e + i];
                    }
                    lin(z, o, e, wo, bo, 1, e, e);
                    for (size_t i = 0; i < e; i++)
                        next[b * d + t * e + i] = Xb[t * e + i] + z[i];
                }
            }
            memcpy(X, next, n * sizeof(double));
        }
        memcpy(y, X, n * sizeof(double));
        return 1;
    }
    case CK_SEED_MEMORY_ATTENTION: {
        const size_t S = s->hidden;
        const float *mk = T(s, params, "mem_k"), *mv = T(s, params, "mem_v");
        double *q = dalloc(d), *p = dalloc(S), *o = dalloc(d);
        for (size_t b = 0; b < B; b++) {
            lin(q, x + b * d, d, T(s, params, "w_q"), NULL, 1, d, d);
            for (size_t k = 0; k < S; k++) {
                p[k] = 0;
                for (size_t i = 0; i < d; i++)
                    p[k] += q[i] * mk[k * d + i] / sqrt((double)d);
            }
            softmax(p, S);
            for (size_t i = 0; i < d; i++) {
                o[i] = 0;
                for (size_t k = 0; k < S; k++)
                    o[i] += p[k] * mv[k * d + i];
            }
            lin(y + b * d, o, d, T(s, params, "w_o"), T(s, params, "b_o"), 1, d, d);
            for (size_t i = 0; i < d; i++)
                y[b * d + i] += x[b * d + i];
        }
        return 1;
    }
    case CK_SEED_MIXTURE: {
        const size_t E = s->count;
        const float *We = T(s, params, "w_experts"), *be = T(s, params, "b_experts");
        double *g = dalloc(E), *h = dalloc(d);
        int *chosen = talloc_bytes(E * sizeof(int));
        for (size_t b = 0; b < B; b++) {
            lin(g, x + b * d, d, T(s, params, "w_gate"), T(s, params, "b_gate"), 1, d, E);
            for (size_t e = 0; e < E; e++) /* rank = experts strictly better (ties: lower index wins) */
            {
                size_t better = 0;
                for (size_t f = 0; f < E; f++)
                    if (g[f] > g[e] || (g[f] == g[e] && f < e))
                        better++;
                chosen[e] = better < s->top_k;
            }
            double m = -INFINITY, sum = 0;
            for (size_t e = 0; e < E; e++)
                if (chosen[e] && g[e] > m)
                    m = g[e];
            for (size_t e = 0; e < E; e++)
                sum += (g[e] = chosen[e] ? exp(g[e] - m) : 0);
            for (size_t i = 0; i < d; i++)
                y[b * d + i] = x[b * d + i];
            for (size_t e = 0; e < E; e++) {
                lin(h, x + b * d, d, We + e * d * d, be + e * d, 1, d, d);
                for (size_t i = 0; i < d; i++)
                    y[b * d + i] += g[e] / sum * h[i];
            }
        }
        return 1;
    }
    case CK_SEED_POOL_PROJECT: {
        size_t P = s->hidden * ((1u << s->count) - 1);
        double *pool = dalloc(B * P);
        for (size_t b = 0; b < B; b++) {
            size_t col = 0;
            for (size_t l = 0; l < s->count; l++) {
                const size_t nb = (size_t)s->hidden << l;
                for (size_t j = 0; j < nb; j++, col++) {
                    const size_t lo = j * d / nb, hi = ((j + 1) * d + nb - 1) / nb;
                    double acc = 0;
                    for (size_t i = lo; i < hi; i++)
                        acc += x[b * d + i];
                    pool[b * P + col] = acc / (double)(hi - lo);
                }
            }
        }
        lin(y, pool, P, T(s, params, "w_out"), T(s, params, "b_out"), B, P, d);
        for (size_t i = 0; i < n; i++)
            y[i] += x[i];
        return 1;
    }
    case CK_SEED_DENSE_BLOCK: {
        static const char *w[] = {"w0", "w1", "w2", "w3", "w4", "w5"}, *bn[] = {"b0", "b1", "b2", "b3", "b4", "b5"};
        const size_t g = s->hidden, W = d + s->count * g;
        double *F = dalloc(B * W), *z = dalloc(g);
        for (size_t b = 0; b < B; b++) {
            for (size_t i = 0; i < d; i++)
                F[b * W + i] = x[b * d + i];
            for (size_t l = 0; l < s->count; l++) {
                lin(z, F + b * W, W, T(s, params, w[l]), T(s, params, bn[l]), 1, d + l * g, g);
                for (size_t i = 0; i < g; i++)
                    F[b * W + d + l * g + i] = act(CK_ACT_RELU, z[i]);
            }
            lin(y + b * d, F + b * W + d, W, T(s, params, "w_out"), T(s, params, "b_out"), 1, s->count * g, d);
            for (size_t i = 0; i < d; i++)
                y[b * d + i] += x[b * d + i];
        }
        return 1;
    }
    case CK_SEED_RECURRENT: {
        const size_t h = s->hidden;
        double *H = dalloc(n), *a = dalloc(B * h), *f = dalloc(n);
        memcpy(H, x, n * sizeof(double));
        for (size_t step = 0; step < s->count; step++) {
            lin(a, H, d, T(s, params, "w1"), T(s, params, "b1"), B, d, h);
            for (size_t i = 0; i < B * h; i++)
                a[i] = tanh(a[i]);
            lin(f, a, h, T(s, params, "w2"), T(s, params, "b2"), B, h, d);
            for (size_t i = 0; i < n; i++)
                H[i] += s->scalar * f[i];
        }
        memcpy(y, H, n * sizeof(double));
        return 1;
    }
    case CK_SEED_NAS_MIXTURE: {
        const float *alpha = T(s, params, "alpha");
        double w[4];
        for (int o = 0; o < 4; o++)
            w[o] = alpha[o] / s->scalar;
        softmax(w, 4);
        for (size_t i = 0; i < n; i++)
            y[i] = w[0] * x[i] + w[1] * act(CK_ACT_RELU, x[i]) + w[2] * act(CK_ACT_GELU, x[i]) +
                   w[3] * act(CK_ACT_TANH, x[i]);
        return 1;
    }
    default:
        if (s->kind >= CK_SEED_FAULT_EXPLODING) { /* the honest part of every fault kind */
            lin(y, x, d, T(s, params, "w"), T(s, params, "b"), B, d, d);
            for (size_t i = 0; i < n; i++)
                y[i] += x[i];
            return 1;
        }
        return 0;
    }
}
