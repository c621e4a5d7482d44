/* ckernels_seeds.h — seed kernels: the dimension-preserving modules R^d -> R^d that Tezzeret
 * compiles from Karn templates and Kasmina grafts into a host's seed slots.
 *
 * A seed kernel is described by a ck_seed_spec (its kind plus a few shape fields, all plain
 * values) and owns nothing: parameters, gradients, saved activations and persistent state are
 * caller-owned flat float buffers whose sizes come from the functions below. The same spec
 * drives the tensor table of the artifact file, deterministic initialisation, forward and
 * backward. Conventions of ckernels.h apply: row-major [B, d] activations, CK_OK or a negative
 * ck_status, nothing written on argument errors.
 *
 * Field meaning per kind (fields not listed must be 0; `scalar` must be finite):
 *   IDENTITY          y = x
 *   LINEAR            y = scalar * (x W^T + b)                       scalar = output gain
 *   LAYER_NORM        y = layernorm(x) gamma + beta                  scalar = epsilon (> 0)
 *   DROPOUT           y = x * mask / (1 - p) when training, else x   scalar = p in [0, 1)
 *   ACTIVATION        y = act(x)                                     activation = ck_activation
 *   BATCH_NORM        normalise each feature over the batch          scalar = running-stat momentum
 *   MAX_POOL          y_i = max of a `window` of features (stride 1, "same" padding)
 *   LAYER_SCALE       y = gamma * x                                  scalar = gamma's initial value
 *   GROUPED_LINEAR    y = blockdiag(W_1..W_count) x + b              count = groups (divides d)
 *   HIGHWAY           y = T H + (1 - T) x, T = sigmoid(x Wt^T + bt)  scalar = initial gate bias
 *   RESIDUAL_MLP      y = x + W_out act(... act(x W_1^T + b_1) ...) + b_out
 *                     count = hidden layers (0 = one residual linear), hidden = their width
 *   GATED_FFN         y = x + W_2 (act(x W_1^T + b_1) * (x V^T + c)) + b_2   hidden = width
 *   CONV1D            y = x + pointwise(act(conv(x))) over the feature axis, `hidden` channels,
 *                     `window` taps, `dilation`, causal = only earlier features (else "same":
 *                     left padding floor((window - 1) / 2) * dilation)
 *   SQUEEZE_EXCITE    y = x * 2 sigmoid(W_2 relu(x W_1^T + b_1) + b_2)   hidden = squeeze width
 *   SLICE_ATTENTION   x split into `count` tokens of d / count features that attend to each
 *                     other (single head per token slice), `rounds` weight-tied residual rounds
 *   MEMORY_ATTENTION  y = x + W_o softmax(q K_mem^T / sqrt(d)) V_mem + b_o, q = x W_q^T
 *                     hidden = memory slots
 *   MIXTURE           y = x + sum over the top_k gates of softmax-renormalised gate * expert(x)
 *                     count = experts, top_k in [1, count]
 *   POOL_PROJECT      y = x + W [avgpool_l(x) for each level] + b; level l pools into
 *                     hidden << l bins; count = levels
 *   DENSE_BLOCK       densely connected: layer l sees x and every earlier layer's `hidden`
 *                     new features; y = x + W_out (new features) + b_out; count = layers
 *   POSITIONAL        y = x + p, p learned, initialised U(-scalar, scalar) / sqrt(d)
 *   RECURRENT         `count` weight-tied steps h += scalar * (W_2 tanh(h W_1^T + b_1) + b_2)
 *   NAS_MIXTURE       y = sum_o softmax(alpha / scalar)_o op_o(x), ops identity/ReLU/GELU/tanh
 * Adversarial ("fault") kinds: a residual linear y = x + x W^T + b that misbehaves on purpose,
 * bounded in time and memory except FAULT_HANG (they exist to exercise the validation gates):
 *   FAULT_EXPLODING   backward multiplies every gradient by scalar^CK_SEED_FAULT_DEPTH
 *   FAULT_VANISHING   backward multiplies every gradient by scalar^CK_SEED_FAULT_DEPTH
 *   FAULT_NAN         forward writes NaN into each output with probability scalar (free-running PRNG)
 *   FAULT_SPIN        forward busy-loops `iterations` times, each a 2 us spin of thread CPU time
 *   FAULT_LEAK        forward grows a private arena by scalar KiB per call (capped at 64 MiB)
 *   FAULT_DEADLOCK    forward runs `iterations` threads that lock a ring of mutexes: every
 *                     call deadlocks, detected by try-lock after 50 ms -> CK_ERR_DEADLOCK
 *   FAULT_RACE        forward: two threads add the inputs into one plain float of the call
 *                     with no lock (read, spin `iterations` ns, write) and add the sum to every
 *                     output: lost updates make outputs depend on the interleaving (no state
 *                     is kept between calls)
 *   FAULT_NOISE       forward adds +-scalar noise chosen by a hash of each input's bits
 *   FAULT_HANG        forward never returns (an unbounded busy loop); only a watchdog outside
 *                     the call stops it
 *
 * Variants choose how matrix products run (matmul kinds) or how element-wise loops are written
 * (element-wise kinds); every variant computes the same function up to float rounding.
 */
#ifndef CKERNELS_SEEDS_H
#define CKERNELS_SEEDS_H

#include "ckernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CK_ERR_DEADLOCK (-5) /* FAULT_DEADLOCK: workers gave up on a lock cycle */
#define CK_ERR_STATE (-6)    /* backward without a matching forward, or bad runtime */
#define CK_ERR_TIMEOUT (-7)  /* a guarded call used its CPU budget and was stopped */

#define CK_SEED_FAULT_DEPTH 8u       /* stacked depth the gradient stressors emulate */
#define CK_SEED_MAX_WIDTH 16384u     /* largest slot width d */
#define CK_SEED_MAX_PARAM_FLOATS (25u * 1024u * 1024u) /* 100 MB of float32, the Urza size cap */
#define CK_SEED_TENSOR_NAME_BYTES 24u
#define CK_SEED_MAX_TENSORS 16u

typedef enum {
    CK_SEED_IDENTITY = 0,
    CK_SEED_LINEAR = 1,
    CK_SEED_LAYER_NORM = 2,
    CK_SEED_DROPOUT = 3,
    CK_SEED_ACTIVATION = 4,
    CK_SEED_BATCH_NORM = 5,
    CK_SEED_MAX_POOL = 6,
    CK_SEED_LAYER_SCALE = 7,
    CK_SEED_GROUPED_LINEAR = 8,
    CK_SEED_HIGHWAY = 9,
    CK_SEED_RESIDUAL_MLP = 10,
    CK_SEED_GATED_FFN = 11,
    CK_SEED_CONV1D = 12,
    CK_SEED_SQUEEZE_EXCITE = 13,
    CK_SEED_SLICE_ATTENTION = 14,
    CK_SEED_MEMORY_ATTENTION = 15,
    CK_SEED_MIXTURE = 16,
    CK_SEED_POOL_PROJECT = 17,
    CK_SEED_DENSE_BLOCK = 18,
    CK_SEED_POSITIONAL = 19,
    CK_SEED_RECURRENT = 20,
    CK_SEED_NAS_MIXTURE = 21,
    CK_SEED_FAULT_EXPLODING = 32,
    CK_SEED_FAULT_VANISHING = 33,
    CK_SEED_FAULT_NAN = 34,
    CK_SEED_FAULT_SPIN = 35,
    CK_SEED_FAULT_LEAK = 36,
    CK_SEED_FAULT_DEADLOCK = 37,
    CK_SEED_FAULT_RACE = 38,
    CK_SEED_FAULT_NOISE = 39,
    CK_SEED_FAULT_HANG = 40
} ck_seed_kind;

/* How the kernel's inner loops run. Matmul kinds accept NAIVE, BLAS and TILED; element-wise
 * kinds (ACTIVATION, DROPOUT, LAYER_SCALE, POSITIONAL, NAS_MIXTURE) accept SCALAR and VECTOR;
 * every other kind only NAIVE. */
typedef enum {
    CK_VARIANT_NAIVE = 0,  /* plain loops: the reference every variant is checked against */
    CK_VARIANT_BLAS = 1,   /* OpenBLAS sgemm */
    CK_VARIANT_TILED = 2,  /* cache-blocked loops with tile_m x tile_n x tile_k blocks */
    CK_VARIANT_SCALAR = 3, /* one element per iteration */
    CK_VARIANT_VECTOR = 4  /* 8-wide unrolled, restrict-qualified: vectorises */
} ck_seed_variant;

typedef struct {
    uint32_t kind;       /* ck_seed_kind */
    uint32_t d;          /* slot width: input and output are [B, d] */
    uint32_t hidden;     /* hidden width / channels / slots / bins / growth (see the table) */
    uint32_t count;      /* layers / groups / tokens / experts / levels / steps */
    uint32_t rounds;     /* SLICE_ATTENTION rounds (>= 1) */
    uint32_t window;     /* MAX_POOL and CONV1D taps */
    uint32_t dilation;   /* CONV1D tap spacing (>= 1) */
    uint32_t top_k;      /* MIXTURE experts used per row */
    uint32_t activation; /* ck_activation for ACTIVATION, RESIDUAL_MLP, GATED_FFN, CONV1D */
    uint32_t causal;     /* CONV1D: 1 = taps only at and before the output feature */
    uint32_t iterations; /* FAULT_SPIN iterations, FAULT_DEADLOCK threads, FAULT_RACE window ns */
    float scalar;        /* gain, epsilon, rate, momentum, init value, step size, temperature, fault strength */
    uint32_t variant;    /* ck_seed_variant */
    uint32_t tile_m, tile_n, tile_k; /* CK_VARIANT_TILED block sizes */
} ck_seed_spec;

typedef enum {
    CK_INIT_ZERO = 0,
    CK_INIT_CONST = 1,         /* every element = init_value */
    CK_INIT_UNIFORM_FAN = 2,   /* U(-init_value / sqrt(fan_in), +init_value / sqrt(fan_in)) */
} ck_seed_init_rule;

/* One entry of a kernel's tensor table: a slice of the flat parameter buffer. */
typedef struct {
    char name[CK_SEED_TENSOR_NAME_BYTES]; /* NUL-terminated, e.g. "w_out" */
    uint32_t ndim;
    uint32_t dims[4];   /* unused dims are 1 */
    size_t offset;      /* in floats from the start of the parameter buffer */
    size_t count;       /* floats */
    uint32_t init_rule; /* ck_seed_init_rule */
    float init_value;
    uint32_t fan_in;
} ck_seed_tensor;

/* Per-instance runtime: plain data the caller allocates (e.g. on the stack or in a struct). */
typedef struct {
    float *state;        /* caller-owned ck_seed_state_floats(spec) floats (batch-norm running stats) */
    uint64_t seed;       /* dropout masks and fault generators derive from it */
    uint64_t step;       /* training step, set by the caller: dropout masks depend on (seed, step) */
    uint64_t prng;       /* FAULT_NAN free-running generator */
    int32_t training;    /* 1: dropout active, batch norm uses batch statistics and updates running ones */
    uint32_t race_bits;  /* unused (FAULT_RACE keeps no state between calls); kept for layout */
    void *arena;         /* FAULT_LEAK arena, freed by ck_seed_runtime_release */
    size_t arena_bytes;
    int32_t forwarded;   /* set by a successful forward; backward requires it */
    uint32_t last_batch; /* B of the last forward */
} ck_seed_runtime;

/* CK_OK when the spec is well-formed (kind, sizes, divisibility, variant, param cap). */
int ck_seed_validate(const ck_seed_spec *s);
/* Size of the flat parameter (and gradient) buffer in floats; 0 for invalid specs. */
size_t ck_seed_param_floats(const ck_seed_spec *s);
/* Number of tensors in the table (<= CK_SEED_MAX_TENSORS); 0 for invalid specs. */
size_t ck_seed_tensor_count(const ck_seed_spec *s);
/* Fills *out with tensor `index` (< ck_seed_tensor_count). */
int ck_seed_tensor_info(const ck_seed_spec *s, size_t index, ck_seed_tensor *out);
/* Floats of workspace a forward/backward pair over B rows needs (saved activations + scratch). */
size_t ck_seed_workspace_floats(const ck_seed_spec *s, size_t B);
/* Floats of persistent non-trainable state (batch-norm running mean and variance). */
size_t ck_seed_state_floats(const ck_seed_spec *s);
/* Approximate floating-point operations of one forward over B rows (for latency limits). */
double ck_seed_forward_flops(const ck_seed_spec *s, size_t B);

/* SplitMix64 (Steele, Lea, Flood 2014): the initialisation stream, identical on every platform. */
uint64_t ck_splitmix64_next(uint64_t *state);
/* Writes every tensor per its init rule: tensor i draws from SplitMix64 seeded with
 * seed ^ (i * 0x9E3779B97F4A7C15); uniform = (x >> 40) * 2^-24; only sqrt is used. */
int ck_seed_init_params(const ck_seed_spec *s, float *params, uint64_t seed);

/* Prepares a runtime (training mode, step 0) and initialises its state buffer. */
int ck_seed_runtime_init(ck_seed_runtime *rt, const ck_seed_spec *s, float *state, uint64_t seed);
/* Frees what a fault kernel allocated (FAULT_LEAK's arena); safe to call twice. */
void ck_seed_runtime_release(ck_seed_runtime *rt);

/* y[B,d] = kernel(x[B,d]) (overwritten); saves what backward needs in ws
 * (ck_seed_workspace_floats(s, B) floats); batch norm updates rt->state when training. */
int ck_seed_forward(const ck_seed_spec *s, const float *params, ck_seed_runtime *rt, float *ws,
                    float *y, const float *x, size_t B);
/* After a forward over the same x and B: dparams += dL/dparams (accumulated), dx = dL/dx
 * (overwritten; NULL skips it). ws holds the forward's saves; its scratch part is reused. */
int ck_seed_backward(const ck_seed_spec *s, const float *params, ck_seed_runtime *rt, float *ws,
                     float *dparams, float *dx, const float *dy, const float *x, size_t B);
/* The same calls under a CPU-time deadline enforced from outside the call (seed_watchdog.c): a
 * timer on the calling thread's CPU clock interrupts a call that has used cpu_budget_ns and it
 * returns CK_ERR_TIMEOUT; the runtime must not be used again after that. 0 = no deadline. */
int ck_seed_forward_within(const ck_seed_spec *s, const float *params, ck_seed_runtime *rt, float *ws, float *y,
                           const float *x, size_t B, uint64_t cpu_budget_ns);
int ck_seed_backward_within(const ck_seed_spec *s, const float *params, ck_seed_runtime *rt, float *ws,
                            float *dparams, float *dx, const float *dy, const float *x, size_t B,
                            uint64_t cpu_budget_ns);
/* fork() without the atfork handlers (see seed_watchdog.c); the child must call
 * ck_blas_set_threads(1) before any GEMM. In the child every descriptor but 0-2 and keep_fd
 * is closed. Returns as fork(). */
int ck_watchdog_fork(int keep_fd);

/* Cache-blocked GEMM, same contract as ck_sgemm; tile sizes >= 1. */
int ck_sgemm_tiled(size_t tile_m, size_t tile_n, size_t tile_k, int transA, int transB, size_t M,
                   size_t N, size_t K, float alpha, const float *A, size_t lda, const float *B,
                   size_t ldb, float beta, float *C, size_t ldc);

#ifdef __cplusplus
}
#endif

#endif /* CKERNELS_SEEDS_H */
