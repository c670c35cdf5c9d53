/*
 * jswift: the C ABI of the native kernel engine.
 *
 * Plain C, one function per op. Every function returns a status (JSW_OK or an error code); on error the
 * message of the failure is readable with jsw_last_error() on the same thread. Nothing here aborts the
 * process on a bad argument: sizes, dtypes, devices and null pointers are validated before any work.
 *
 * Conventions shared by every op:
 *  - `device` is JSW_CPU (-1) or a CUDA device index (0, 1, ...). Every pointer of a call lives on that device.
 *  - Matrices are row-major and contiguous unless a leading dimension says otherwise.
 *    Linear weights have PyTorch's [out, in] orientation: y = x W^T.
 *  - `dtype` (JSW_F32 / JSW_BF16 / JSW_F16) is the storage type of the activations and weights of a call.
 *    Arithmetic always accumulates in fp32. Statistics (rstd, lse, losses) are fp32.
 *  - Parameter gradients (dweight, dA, dB, dtable, ...) are fp32 and ACCUMULATED (+=): zero them once per
 *    optimizer step; gradient accumulation over micro-batches then needs no extra pass.
 *    Activation gradients (dx, dq, ...) are in `dtype` and overwritten.
 *  - CUDA calls are asynchronous on the device's jswift stream; jsw_synchronize waits and reports any error
 *    that a kernel raised on the device (e.g. an out-of-range token id).
 */
#ifndef JSWIFT_JSWIFT_H
#define JSWIFT_JSWIFT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Only these functions are exported from libjswift. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* ---- status codes -------------------------------------------------------------------------------- */
#define JSW_OK 0
#define JSW_ERR_INVALID_ARGUMENT 1
#define JSW_ERR_NO_DEVICE 2
#define JSW_ERR_OUT_OF_MEMORY 3
#define JSW_ERR_CUDA 4
#define JSW_ERR_UNSUPPORTED 5
#define JSW_ERR_INTERNAL 6

/* ---- data types (the numbers are part of the ABI) ------------------------------------------------ */
#define JSW_F32 0
#define JSW_BF16 1
#define JSW_F16 2
#define JSW_I8 3
#define JSW_U8 4
#define JSW_I32 5
#define JSW_I64 6

#define JSW_CPU (-1)

/* ---- library and devices ------------------------------------------------------------------------- */
/* Message of the last failed call on this thread ("" if none). */
const char* jsw_last_error(void);
/* A one-line description of the build: version, compiler, BLAS, CUDA archs. */
const char* jsw_build_info(void);
/* 1 if the library was compiled with CUDA kernels. */
int jsw_cuda_compiled(void);
/* Number of usable CUDA devices; 0 when CUDA is not compiled in, or there is no driver or GPU. Never fails. */
int jsw_cuda_device_count(void);
/* Writes the device name (NUL-terminated, at most len bytes) into name. */
int jsw_cuda_device_name(int device, char* name, int len);
/* OpenMP threads used by CPU kernels. */
int jsw_cpu_threads(void);
int jsw_set_cpu_threads(int threads);
/* Threads of the process's OpenBLAS for its other users (e.g. libtorch in the same JVM; a no-op with the builtin
 * GEMM). jswift's own GEMMs do not use them: they are split over the OpenMP threads (jsw_set_cpu_threads), one
 * single-threaded OpenBLAS call per thread. */
int jsw_set_blas_threads(int threads);

/* ---- memory --------------------------------------------------------------------------------------- */
/* CPU: 64-byte aligned host memory. CUDA: from a caching allocator (blocks are reused, not released). */
int jsw_malloc(int device, int64_t bytes, void** out);
int jsw_free(int device, void* ptr);
/* Copies between any two devices (host<->device, device<->device). Synchronous with respect to the host, except a
 * copy within one CUDA device, which is queued on its stream like a kernel (later ops and copies see its result;
 * a CUDA graph capture records it). */
int jsw_memcpy(void* dst, int dst_device, const void* src, int src_device, int64_t bytes);
int jsw_memset(int device, void* ptr, int value, int64_t bytes);
/* Waits for the device's queued work; reports errors raised by kernels since the last synchronize. */
int jsw_synchronize(int device);
/* stats[0] bytes allocated now, [1] bytes reserved (allocated + cached), [2] peak allocated, [3] native
 * allocations made (cudaMalloc / aligned_alloc calls). */
int jsw_memory_stats(int device, int64_t* stats);
int jsw_reset_peak_memory(int device);
/* Releases cached, unused device blocks back to the driver. */
int jsw_empty_cache(int device);
/* Per-op timing, to see where a step's time goes: after jsw_profile_start every API call waits for the device
 * before it returns and adds its time to its op's row; jsw_profile_stop prints the rows (calls, total, mean,
 * share, and the wall time outside the ops) to stderr under `label` and stops. JSWIFT_PROFILE=1 profiles the
 * whole process and prints at exit. Not for CUDA graph capture (captured calls are not waited for). */
int jsw_profile_start(void);
int jsw_profile_stop(const char* label);
/* The table so far (as jsw_profile_stop would print it, without stopping) into out, NUL-terminated and cut to
 * capacity bytes; returns the bytes the whole table needs (with the NUL), or a negative status. */
int64_t jsw_profile_table(const char* label, char* out, int64_t capacity);

/* ---- graphs (capture a device's work once, replay it many times) ------------------------------------ */
/* jsw_graph_begin starts capturing every op this thread then queues on the device (nothing runs);
 * jsw_graph_end stops and returns a graph handle that jsw_graph_launch replays, as if the captured calls were
 * made again with the same arguments (pointers and scalars are baked in: a per-step value must live in device
 * memory, e.g. jsw_adamw_step_dev's scalars, jsw_set_dropout_step's step). A CUDA device captures its stream
 * into a CUDA graph (one launch replays a whole step). The CPU records its calls and replays them in order: no
 * faster, but the same rules, so a graph path can be tested without a GPU. Rules while capturing:
 *  - CUDA device memory comes from the caching allocator's cache only: run the same sequence once eagerly first
 *    (warm-up), so that every block it needs is cached; a cache miss fails that jsw_malloc with
 *    JSW_ERR_UNSUPPORTED. On both devices, blocks freed during the capture belong to the graph (its replays reuse
 *    them) until jsw_graph_destroy; blocks allocated during the capture and not freed are the graph's outputs:
 *    keep them allocated while the graph may be replayed.
 *  - nothing may wait for the device or copy to/from the host: jsw_synchronize, jsw_memcpy to or from the host
 *    (on the CPU: memory that is not jsw_malloc's) or another device, and jsw_empty_cache fail with
 *    JSW_ERR_UNSUPPORTED (the capture is then broken); a jsw_memcpy within the device is captured.
 *  - the CPU checks an op's host-side data (labels, cu_seqlens, kv_len) when it replays it; a failure there
 *    stops the replay with the op's name.
 * If anything failed during the capture, jsw_graph_end reports the first failure, discards the capture and
 * leaves the device usable for eager work. */
int jsw_graph_begin(int device);
int jsw_graph_end(int device, void** graph);
int jsw_graph_launch(void* graph);
/* Waits for the graph's replays, then returns its blocks to the cache. NULL is a no-op. */
int jsw_graph_destroy(void* graph);

/* ---- elementwise helpers -------------------------------------------------------------------------- */
/* dst[i] = (dst_dtype) src[i] for any pair of f32 / bf16 / f16 (round to nearest even). */
int jsw_cast(int device, int src_dtype, const void* src, int dst_dtype, void* dst, int64_t n);
/* x[i] = value */
int jsw_fill(int device, int dtype, void* x, float value, int64_t n);
/* y[i] = a * x[i] + b * y[i]  (fp32 math) */
int jsw_axpby(int device, int dtype, int64_t n, float a, const void* x, float b, void* y);
/* y[r, c] += bias[c] for a [rows, cols] y (the bias of a dense linear layer). */
int jsw_add_bias(int device, int dtype, void* y, const void* bias, int64_t rows, int64_t cols);
/* dbias[c] += sum_r dy[r, c] (fp32 accumulate): the bias gradient of a linear layer. */
int jsw_sum_rows(int device, int dtype, const void* dy, int64_t rows, int64_t cols, float* dbias);

/* ---- GEMM ----------------------------------------------------------------------------------------- */
/* C[m,n] = alpha * op(A)[m,k] . op(B)[k,n] + beta * C, row-major, `batch` times with the given element
 * strides. A and B are `dtype`; C is `c_dtype` (= dtype, or JSW_F32 for fp32 accumulation buffers).
 * lda/ldb/ldc are the row strides of A, B, C as stored (before op()). CPU: OpenBLAS; CUDA: cuBLAS with
 * fp32 compute (bf16/f16 on tensor cores). */
int jsw_gemm(int device, int dtype, int c_dtype, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
             float alpha, const void* a, int64_t lda, const void* b, int64_t ldb, float beta, void* c, int64_t ldc,
             int64_t batch, int64_t stride_a, int64_t stride_b, int64_t stride_c);

/* ---- embedding ------------------------------------------------------------------------------------ */
/* out[t, :] = table[ids[t], :]. Ids outside [0, vocab) are an error. */
int jsw_embedding_fwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* table,
                      int64_t vocab, int64_t dim, void* out);
/* dtable[ids[t], :] += dout[t, :]  (dtable fp32) */
int jsw_embedding_bwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* dout,
                      int64_t vocab, int64_t dim, float* dtable);
/* out [rows, n] = x [rows, cols] gathered along its columns: out[r, j] = x[r, idx[j]] (dtype storage, copied as
 * is). idx [n] int32 on the device; CPU: an index outside [0, cols) fails the call before anything is written;
 * CUDA: it gives a zero and jsw_synchronize reports it. Used to permute the inputs of an act-order GPTQ weight. */
int jsw_gather_columns(int device, int dtype, const void* x, int64_t rows, int64_t cols, const int32_t* idx,
                       int64_t n, void* out);

/* ---- RMSNorm -------------------------------------------------------------------------------------- */
/* y = weight * x / sqrt(mean(x^2) + eps) over the last dim; rstd[row] = 1/sqrt(mean + eps) (may be NULL).
 * Qwen3's per-head q/k norm is the same call with rows = tokens * heads and dim = head_dim. */
int jsw_rmsnorm_fwd(int device, int dtype, const void* x, const void* weight, float eps, int64_t rows,
                    int64_t dim, void* y, float* rstd);
/* dx = d/dx; dweight += sum_rows(dy * x * rstd) (fp32, may be NULL). rstd from the forward. */
int jsw_rmsnorm_bwd(int device, int dtype, const void* dy, const void* x, const void* weight, const float* rstd,
                    int64_t rows, int64_t dim, void* dx, float* dweight);

/* ---- RoPE (rotate-half convention) ------------------------------------------------------------------ */
#define JSW_ROPE_DEFAULT 0
#define JSW_ROPE_LINEAR 1
#define JSW_ROPE_LLAMA3 2
/* Host-side: inv_freq[i] = 1/theta^(2i/head_dim), i < head_dim/2, then the rope_scaling rule
 * (linear: / factor; llama3: wavelength-dependent blend). fp32 math, as transformers computes it. */
int jsw_rope_inv_freq(int64_t head_dim, float theta, int scaling_type, float factor, float low_freq_factor,
                      float high_freq_factor, int64_t original_max_position, float* inv_freq);
/* x: [tokens, heads, head_dim]; angle = positions[t] * inv_freq[i]; y = x*cos + rotate_half(x)*sin, with
 * cos/sin multiplied by attention_scaling (1 for default/linear/llama3). y may equal x (in place). */
int jsw_rope_fwd(int device, int dtype, const void* x, const int32_t* positions, const float* inv_freq,
                 int64_t tokens, int64_t heads, int64_t head_dim, float attention_scaling, void* y);
/* The transpose of the rotation: dx = R(-angle) dy. dx may equal dy. */
int jsw_rope_bwd(int device, int dtype, const void* dy, const int32_t* positions, const float* inv_freq,
                 int64_t tokens, int64_t heads, int64_t head_dim, float attention_scaling, void* dx);

/* ---- SwiGLU --------------------------------------------------------------------------------------- */
/* out = silu(gate) * up, elementwise over n values. */
int jsw_swiglu_fwd(int device, int dtype, const void* gate, const void* up, int64_t n, void* out);
int jsw_swiglu_bwd(int device, int dtype, const void* dout, const void* gate, const void* up, int64_t n,
                   void* dgate, void* dup);

/* ---- pointwise activations ------------------------------------------------------------------------ */
/* y = act(x) elementwise over n values; the backward dx = dy * act'(x) (dx may alias dy). The kinds are
 * transformers' ACT2CLS functions (a bottleneck adapter's act_layer): exact GELU 0.5 x (1 + erf(x / sqrt 2));
 * GELU's tanh approximation (gelu_new, gelu_pytorch_tanh, gelu_fast); ReLU; SiLU x sigmoid(x); quick_gelu
 * x sigmoid(1.702 x); tanh; sigmoid. */
#define JSW_ACT_GELU 0
#define JSW_ACT_GELU_TANH 1
#define JSW_ACT_RELU 2
#define JSW_ACT_SILU 3
#define JSW_ACT_QUICK_GELU 4
#define JSW_ACT_TANH 5
#define JSW_ACT_SIGMOID 6
int jsw_activation_fwd(int device, int dtype, int kind, const void* x, int64_t n, void* y);
int jsw_activation_bwd(int device, int dtype, int kind, const void* x, const void* dy, int64_t n, void* dx);

/* ---- fused LoRA linear ---------------------------------------------------------------------------- */
/* y = x W^T (+ bias) + scale * (drop(x) A^T) B^T, W [out,in] frozen, A [rank,in], B [out,rank].
 * xa [tokens, rank] receives drop(x) A^T for the backward (may be NULL when no backward follows). Dropout
 * (p = dropout_p in [0, 1), 0 = off) keeps element t*in_features + i of x with probability 1 - p, scaled by
 * 1/(1-p), decided by a counter-based hash of (seed, element index), so the backward regenerates the same
 * mask without storing it and the CPU and CUDA twins drop the same elements. bias may be NULL. */
int jsw_lora_fwd(int device, int dtype, const void* x, const void* w, const void* bias, const void* lora_a,
                 const void* lora_b, int64_t tokens, int64_t in_features, int64_t out_features, int64_t rank,
                 float scale, float dropout_p, uint64_t seed, void* y, void* xa);
/* dx = dy W + scale * drop'((dy B) A) (dx may be NULL), dA += scale (dy B)^T drop(x), dB += scale dy^T xa.
 * da / db may be NULL (frozen). An input only the skipped gradients read may be NULL too (xa when db is NULL,
 * x when da is NULL, w and lora_a when dx is NULL). */
int jsw_lora_bwd(int device, int dtype, const void* dy, const void* x, const void* w, const void* lora_a,
                 const void* lora_b, const void* xa, int64_t tokens, int64_t in_features, int64_t out_features,
                 int64_t rank, float scale, float dropout_p, uint64_t seed, void* dx, float* da, float* db);
/* The adapter's term alone, for decode-shaped inputs beside a packed base's GEMV: y [rows, out] += scale *
 * (x [rows, in] A^T) B^T, A [rank, in], B [out, rank], no dropout (inference). xa = x A^T is rounded to the
 * storage dtype before the second product, as two GEMMs through an xa tensor would. One call (two small kernels on
 * CUDA) where two GEMM calls were made. */
int jsw_lora_delta(int device, int dtype, const void* x, int64_t rows, int64_t in_features, const void* lora_a,
                   int64_t rank, const void* lora_b, int64_t out_features, float scale, void* y);

/* The low-rank halves of a LoRA linear with the dropout inside them, for a base product made elsewhere (a
 * packed 4-bit weight's tile GEMM, QuantizedLora in Java): drop(x) is never stored. Both apply jsw_dropout's
 * mask (element t*in + i of x, the seed and the device's dropout step; p = 0: none) with drop(x) rounded to the
 * storage dtype, and accumulate in fp32.
 * jsw_lora_down:    xa [rows, rank] = drop(x) A^T  (x [rows, in], A [rank, in]; xa rounded once).
 * jsw_lora_up_grad: from g [rows, rank] (= dy B, in the storage dtype):
 *                   dx [rows, in] = drop'(scale g A)  (overwritten; scale g A rounded, then masked and scaled by
 *                                    1/(1-p) and rounded again, as a GEMM and jsw_dropout would; NULL: skipped)
 *                   dA [rank, in] += scale g^T drop(x)  (fp32; NULL: skipped).
 * One pass over x for each (where jsw_dropout and GEMMs made three or five), one mask evaluation for both
 * outputs of jsw_lora_up_grad. Equal, up to the order of fp32 sums, to the jsw_dropout + jsw_gemm sequence. */
int jsw_lora_down(int device, int dtype, const void* x, const void* lora_a, int64_t rows, int64_t in_features,
                  int64_t rank, float dropout_p, uint64_t seed, void* xa);
int jsw_lora_up_grad(int device, int dtype, const void* g, const void* x, const void* lora_a, int64_t rows,
                     int64_t in_features, int64_t rank, float scale, float dropout_p, uint64_t seed, void* dx,
                     float* da);

/* ---- DoRA helpers (weight-decomposed LoRA: y = b + (m / ||W + s B A||_row) * (x W^T + s (x A^T) B^T)) -- */
/* norm[r] = sqrt(sum_c x[r, c]^2) and inv_norm[r] = 1 / norm[r] (fp32 sums; a zero row gives inf) for a
 * [rows, cols] x; either output may be NULL, not both. DoRA's per-output-row weight norm, on W + s B A. */
int jsw_row_norm(int device, int dtype, const void* x, int64_t rows, int64_t cols, float* norm, float* inv_norm);
/* y[r, c] = x[r, c] * row_scale[r] * col_scale[c] (fp32 math, one rounding), i.e. diag(row_scale) x
 * diag(col_scale). Either scale may be NULL (= ones); y may equal x (in place). */
int jsw_scale_rows_cols(int device, int dtype, const void* x, int64_t rows, int64_t cols, const float* row_scale,
                        const float* col_scale, void* y);
/* dv[c] += sum_r a[r, c] * b[r, c] (fp32 accumulate): the gradient of a per-column scale v in y = x * v. */
int jsw_sum_rows_mul(int device, int dtype, const void* a, const void* b, int64_t rows, int64_t cols, float* dv);
/* y[i] = keep(i) ? x[i] / (1 - p) : 0, p in [0, 1): the dropout mask of jsw_lora_fwd (same hash of (seed, i)),
 * as a standalone op, for DoRA's training path (PEFT runs its base path on the dropped input too). Its own
 * backward is the same call on dy. y may equal x. */
int jsw_dropout(int device, int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y);
/* Sets the device's dropout step, the second part of every dropout mask's key (jsw_dropout, jsw_lora_fwd,
 * jsw_lora_bwd): the mask of element i is a hash of (seed, step, i). The step lives in device memory and kernels
 * read it when they run, so a graph captured once draws a new mask at each replay after a new step, while its
 * baked seeds stay. Queued in order with the device's other work (on the CPU: applied at once; recorded, like any
 * op, while capturing). Every device starts at step 0, whose masks are those of the seed alone. */
int jsw_set_dropout_step(int device, int64_t step);
/* x[i] += magnitude * (2 u_i - 1) in place, u_i uniform on [0, 1) from jsw_dropout's hash of (seed, the device's
 * dropout step, i): NEFTune's uniform noise on [-magnitude, magnitude) over the input embeddings, regenerated
 * bit for bit from the seed, and new at each dropout step (also inside a replayed graph). magnitude >= 0. */
int jsw_add_uniform_noise(int device, int dtype, void* x, int64_t n, float magnitude, uint64_t seed);

/* ---- BOFT (butterfly orthogonal fine-tuning: y = s * (x R W^T) + b, R a product of butterfly factors) ---- */
/* Cayley transform of `blocks` square f32 matrices a [blocks, h, h]: q = (I - S)(I + S)^-1 with S = (a - a^T) / 2,
 * orthogonal for any a (PEFT's cayley_batch). I + S is inverted by Gauss-Jordan without pivoting, which is stable
 * here: its symmetric part is I, so every pivot is >= 1. identity (int32 [blocks], or NULL): a block whose flag is
 * non-zero gets q = I (BOFT's multiplicative dropout). q must not overlap a. */
int jsw_boft_cayley(int device, const float* a, int64_t blocks, int64_t h, const int32_t* identity, float* q);
/* The Cayley transform's backward from q and dq (f32 [blocks, h, h]): with I + q = 2 (I + S)^-1,
 * dS = -(I + q)^T dq (I + q)^T / 2 and da += (dS - dS^T) / 2 (accumulated); flagged blocks add nothing. */
int jsw_boft_cayley_backward(int device, const float* q, const float* dq, int64_t blocks, int64_t h,
                             const int32_t* identity, float* da);
/* One butterfly factor M = P diag(q_0 .. q_{n/h-1}) P^T applied to each of `rows` rows of n values, y = x M
 * (x M^T when transpose), with P[i][perm[i]] = 1 given by its inverse perm_inv (int32 [n], NULL for the identity):
 *   y[perm_inv[j h + c]] = sum_k x[perm_inv[j h + k]] q_j[k][c]      (transpose: q_j[c][k])
 * q f32 [n / h, h, h]; x and y of one float dtype, [rows, n], not overlapping; fp32 sums. perm_inv must be a
 * permutation of 0 .. n-1 (the CPU checks it; jswift's Java layer builds it). */
int jsw_butterfly_rotate(int device, int dtype, const void* x, int64_t rows, int64_t n, const int32_t* perm_inv,
                         const float* q, int64_t h, int transpose, void* y);
/* The gradient of jsw_butterfly_rotate (transpose 0) with respect to its blocks, accumulated:
 *   dq_j[k][c] += sum_rows x[perm_inv[j h + k]] dy[perm_inv[j h + c]]
 * (dx is jsw_butterfly_rotate of dy with transpose 1). */
int jsw_butterfly_rotate_grad(int device, int dtype, const void* x, const void* dy, int64_t rows, int64_t n,
                              const int32_t* perm_inv, int64_t h, float* dq);

/* ---- flash attention ------------------------------------------------------------------------------ */
/* q [tokens, heads, head_dim], k/v [tokens, kv_heads, head_dim], out like q, lse [tokens, heads] fp32
 * (natural-log log-sum-exp of the scaled scores; -inf for a query that sees no key).
 * Two layouts:
 *  - padded: cu_seqlens == NULL, tokens = batch * seq_len, sequence b occupies rows [b*seq_len, (b+1)*seq_len);
 *    key_mask [batch, seq_len] (int32, 0 = padding key) may be NULL.
 *  - packed: cu_seqlens [batch + 1] (int32 offsets, cu_seqlens[0] = 0) and seq_len = the longest sequence;
 *    key_mask must be NULL. Attention never crosses a sequence boundary.
 * Query i of a sequence sees key j iff (!causal || j <= i) && (window <= 0 || i - j < window) && mask[j].
 * Query head h uses kv head h / (heads / kv_heads). Scores are scaled by softmax_scale. head_dim <= 256.
 * Host cu_seqlens are checked before any work; device ones by the kernels, reported by jsw_synchronize. */
int jsw_attention_fwd(int device, int dtype, const void* q, const void* k, const void* v, int64_t batch,
                      int64_t seq_len, int64_t heads, int64_t kv_heads, int64_t head_dim, const int32_t* cu_seqlens,
                      const int32_t* key_mask, int causal, int64_t window, float softmax_scale, void* out,
                      float* lse);
/* dq, dk, dv (overwritten, dtype) from dout and the forward's out and lse. */
int jsw_attention_bwd(int device, int dtype, const void* q, const void* k, const void* v, const void* out,
                      const void* dout, const float* lse, int64_t batch, int64_t seq_len, int64_t heads,
                      int64_t kv_heads, int64_t head_dim, const int32_t* cu_seqlens, const int32_t* key_mask,
                      int causal, int64_t window, float softmax_scale, void* dq, void* dk, void* dv);

/* ---- KV-cache decode attention (inference: no backward) ---------------------------------------------- */
/* The keys and values of each sequence live in a cache of `capacity` slots: k_cache / v_cache
 * [batch, capacity, kv_heads, head_dim]; kv_len [batch] (int32, on the call's device) counts the valid slots of
 * each sequence. q [batch, q_len, heads, head_dim] holds q_len new queries per sequence whose keys are already in
 * the cache (jsw_kv_cache_append first), the last ones: query i of sequence b sits at cache position
 * p = kv_len[b] - q_len + i and sees key j iff j <= p && (window <= 0 || p - j < window) && key_mask[b, j] != 0
 * (so never a slot past kv_len[b]). q_len = 1 is token-by-token decoding; q_len > 1 a prefill or its
 * continuation (a chunk of a prompt, speculative tokens), causal inside the chunk. key_mask [batch, capacity]
 * (int32, 0 = padding, e.g. the left padding of batched generation) may be NULL. Query head h uses kv head
 * h / (heads / kv_heads). Scores are scaled by softmax_scale; head_dim <= 256. out is like q (overwritten),
 * lse [batch, q_len, heads] (fp32, natural log-sum-exp of the visible scaled scores) may be NULL. A query that
 * sees no key gives out = 0 and lse = -inf. Equal, up to rounding, to jsw_attention_fwd (causal, padded layout)
 * over the first kv_len[b] tokens of each sequence, restricted to its last q_len queries.
 * kv_len values outside [q_len, capacity] are an error: the CPU reports it before writing anything; CUDA sets a
 * device error flag (reported by jsw_synchronize) and writes out = 0, lse = -inf for that sequence. */
int jsw_attention_decode(int device, int dtype, const void* q, const void* k_cache, const void* v_cache,
                         const int32_t* kv_len, const int32_t* key_mask, int64_t batch, int64_t q_len,
                         int64_t capacity, int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t window,
                         float softmax_scale, void* out, float* lse);
/* Writes the keys and values of q_len new tokens into the cache: token i of sequence b (k_new / v_new
 * [batch, q_len, kv_heads, head_dim]) goes to slot kv_len[b] - q_len + i, kv_len being the lengths AFTER the
 * append (the same array jsw_attention_decode then takes). Other slots are untouched. kv_len values outside
 * [q_len, capacity] are an error: the CPU reports it before writing; CUDA raises the device error flag and
 * writes nothing for that sequence. */
int jsw_kv_cache_append(int device, int dtype, const void* k_new, const void* v_new, void* k_cache, void* v_cache,
                        const int32_t* kv_len, int64_t batch, int64_t q_len, int64_t capacity, int64_t kv_heads,
                        int64_t head_dim);

/* ---- fused LM head + cross-entropy ---------------------------------------------------------------- */
/* logits = hidden [tokens, dim] . weight[vocab, dim]^T, computed chunk_tokens rows at a time (0 = default: on the
 * CPU about 64 MiB of fp32 logits, 256 to 4096 rows; on CUDA about 1 GiB, 512 to 16384 rows, because each chunk
 * re-reads and re-writes the fp32 dweight and the GPU has the memory to amortise that), so [tokens, vocab] logits never exist at once. labels [tokens] are
 * the targets of each row (already shifted); rows with label == ignore_index give loss 0 and no gradient.
 * loss[t] = lse[t] - logit[t, label]  (so the token log-prob is -loss[t]); argmax [tokens] (first maximum, as
 * torch.argmax) may be NULL. Any other label outside [0, vocab) is an error: the CPU reports it, naming the row,
 * before writing any output; CUDA sets a device error flag (reported by jsw_synchronize) and treats the row as
 * ignored. The same holds for the backward calls. */
int jsw_lmhead_ce_fwd(int device, int dtype, const void* hidden, const void* weight, const int32_t* labels,
                      int64_t tokens, int64_t dim, int64_t vocab, int32_t ignore_index, int64_t chunk_tokens,
                      float* loss, float* lse, int32_t* argmax);
/* Given dloss [tokens] (the upstream gradient of each row's loss, e.g. weight_t / n_targets):
 * dlogits = dloss * (softmax - onehot(label)); dhidden = dlogits . weight (dtype, overwritten);
 * dweight += dlogits^T . hidden (fp32, may be NULL). lse from the forward. A negative dloss turns this into
 * the gradient of a log-prob (preference losses). */
int jsw_lmhead_ce_bwd(int device, int dtype, const void* hidden, const void* weight, const int32_t* labels,
                      const float* lse, const float* dloss, int64_t tokens, int64_t dim, int64_t vocab,
                      int32_t ignore_index, int64_t chunk_tokens, void* dhidden, float* dweight);
/* Forward and backward in one pass over the logits (dloss known up front, as for a mean loss); equal to
 * jsw_lmhead_ce_fwd then jsw_lmhead_ce_bwd up to rounding, with one logits GEMM per chunk instead of two. argmax
 * (may be NULL) as jsw_lmhead_ce_fwd's: a training step's token accuracy. */
int jsw_lmhead_ce_fwd_bwd(int device, int dtype, const void* hidden, const void* weight, const int32_t* labels,
                          const float* dloss, int64_t tokens, int64_t dim, int64_t vocab, int32_t ignore_index,
                          int64_t chunk_tokens, float* loss, float* lse, int32_t* argmax, void* dhidden,
                          float* dweight);

/* ---- optimizer ------------------------------------------------------------------------------------ */
/* *acc += sum(x^2) (fp32 accumulation; acc is one float on the device, so the squares of many tensors add up
 * there without a host sync). */
int jsw_sumsq(int device, int dtype, const void* x, int64_t n, float* acc);
/* From a global sum of squares: *norm = sqrt(sumsq); *coef = min(1, max_norm / (norm + 1e-6)) (torch's
 * clip_grad_norm_). max_norm <= 0 gives coef = 1. Device scalars, so clipping needs no host sync. */
int jsw_clip_coef(int device, const float* sumsq, float max_norm, float* norm, float* coef);
/* torch.optim.AdamW, one step (step counts from 1), on fp32 param / grad / moments:
 * p *= 1 - lr*wd; g *= *grad_scale (if not NULL); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps). The scalars (1 - lr*wd, the bias corrections)
 * are computed in fp64 and rounded to fp32, as torch::optim::AdamW hands them to its fp32 tensor ops. If
 * param_copy is not NULL the updated param is also written there as copy_dtype (f32 / bf16 / f16: the bf16
 * compute copy of an fp32 master weight). */
int jsw_adamw_step(int device, float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                   float beta1, float beta2, float eps, float weight_decay, int64_t step, const float* grad_scale,
                   int copy_dtype, void* param_copy);

/* As jsw_adamw_step, but the per-step scalars are read from `scalars` (8 floats on `device`, written there by
 * the caller from jsw_adamw_scalars) when the kernel runs, not passed as arguments: the form a CUDA graph replays,
 * since a captured kernel's arguments are fixed (the learning rate and the step's bias corrections change every
 * step; the caller writes the next step's 8 floats into the same buffer before each replay). The arithmetic is
 * jsw_adamw_step's, bit for bit. On the CPU scalars is host memory. */
int jsw_adamw_step_dev(int device, float* param, const float* grad, float* m, float* v, int64_t n,
                       const float* scalars, const float* grad_scale, int copy_dtype, void* param_copy);
/* The 8 floats jsw_adamw_step_dev reads, into host memory out8, for one step (same checks as jsw_adamw_step). */
int jsw_adamw_scalars(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step, float* out8);

/* ---- NF4 (bitsandbytes layout) ---------------------------------------------------------------------- */
/* The 16-entry NF4 codebook and bitsandbytes' signed 8-bit dynamic map (create_dynamic_map(signed=True)),
 * written to host memory. */
int jsw_nf4_codebook(float* code16);
int jsw_dynamic_map_signed(float* code256);
/* Quantize n values (flattened row-major weight) in blocks of `blocksize` consecutive values: absmax[b] =
 * max|x| of block b, code = nearest NF4 level of x/absmax; element 2k -> high nibble of packed[k], 2k+1 -> low
 * nibble. packed has ceil(n/2) bytes, absmax ceil(n/blocksize) floats. Exactly as bitsandbytes' CUDA kernel:
 * x is scaled as x * (1/absmax) in fp32 and a value on a midpoint between two levels takes the lower code; an
 * odd n pads the last low nibble with the code of 0; an all-zero block (absmax 0) encodes as code 0. The CPU and
 * CUDA twins produce identical bytes. */
int jsw_nf4_quantize(int device, int dtype, const void* x, int64_t n, int64_t blocksize, uint8_t* packed,
                     float* absmax);
/* out[i] = code[nibble(i)] * absmax[i / blocksize], computed in fp32, stored as dtype. */
int jsw_nf4_dequantize(int device, int dtype, const uint8_t* packed, const float* absmax, int64_t n,
                       int64_t blocksize, void* out);
/* Double quantization of the absmax vector (bitsandbytes compress_statistics): offset = mean(absmax) is
 * subtracted, then blockwise 8-bit (blocks of 256) with the signed dynamic map: q [n] codes, nested_absmax
 * [ceil(n/256)]. *offset is written (device scalar). The mean is summed in fp64 in a fixed order (groups of 256,
 * then the group sums), so the CPU and CUDA twins agree on the offset and on every code. */
int jsw_quantize_absmax_8bit(int device, const float* absmax, int64_t n, uint8_t* q, float* nested_absmax,
                             float* offset);
/* NF4 dequantization straight from double-quantized statistics: absmax[b] = code256[absmax_q[b]] *
 * nested_absmax[b / 256] + offset (the product and the sum each rounded to fp32, no FMA, as bitsandbytes).
 * code256 is the dynamic map on the same device. */
int jsw_nf4_dequantize_dq(int device, int dtype, const uint8_t* packed, const uint8_t* absmax_q,
                          const float* nested_absmax, const float* code256, float offset, int64_t n,
                          int64_t blocksize, void* out);

/* ---- Min-max group quantization (Q-GaLore: INT4 projectors, INT8 weights) ------------------------------ */
/* Asymmetric min-max quantization of n values (a flattened row-major tensor) in groups of `group_size`
 * consecutive values (the last group may be shorter), as Q-GaLore's _quantize: with qmax = 2^bits - 1,
 * scales[g] = max(max_g - min_g, 1e-5) / qmax, zeros[g] = clamp(round(-min_g / scales[g]), 0, qmax) and
 * code = clamp(round(x / scales[g]) + zeros[g], 0, qmax), every step in fp32, round = half to even (torch.round).
 * With stochastic != 0, round(q) becomes floor(q) + 1 with probability q - floor(q) (else floor(q)): an unbiased
 * stochastic rounding whose uniform draw is a pure function of (seed, element index) (counter-based), so a run
 * is reproducible and the CPU and CUDA twins draw the same numbers. bits is 4 or 8: with 8, codes has n bytes;
 * with 4, ceil(n / 2) bytes, element 2k in the high nibble of codes[k] and 2k + 1 in the low one (an odd n
 * leaves the last low nibble 0). scales and zeros have ceil(n / group_size) floats. x is f32/bf16/f16. The CPU
 * and CUDA twins produce identical bytes. */
int jsw_minmax_quantize(int device, int dtype, const void* x, int64_t n, int64_t group_size, int bits,
                        int stochastic, uint64_t seed, uint8_t* codes, float* scales, float* zeros);
/* out[i] = (code(i) - zeros[g]) * scales[g], g = i / group_size, computed in fp32, stored as dtype. */
int jsw_minmax_dequantize(int device, int dtype, const uint8_t* codes, const float* scales, const float* zeros,
                          int64_t n, int64_t group_size, int bits, void* out);

/* ---- NF4 GEMV (decode-shaped inputs; fused dequantization) ---------------------------------------------- */
/* y[r, o] = sum_i x[r, i] * W[o, i] (+ bias[o]) for r < rows (1..8), where W [out_features, in] is the NF4 weight
 * flattened row-major exactly as jsw_nf4_dequantize reads it (element o * in + i; blocks of `blocksize`
 * consecutive elements, so any in and blocksize are allowed). The packed weight is read once and never
 * materialised; products are accumulated in fp32. Exactly one of absmax (plain fp32 scales) and absmax_q
 * (double quantization: absmax[b] = code256[absmax_q[b]] * nested_absmax[b / 256] + offset, as
 * jsw_nf4_dequantize_dq; nested_absmax and code256 then required) is given. x [rows, in], bias [out_features]
 * (or NULL) and y [rows, out_features] are dtype. */
int jsw_nf4_gemv(int device, int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed,
                 const float* absmax, const uint8_t* absmax_q, const float* nested_absmax, const float* code256,
                 float offset, int64_t out_features, int64_t blocksize, const void* bias, void* y);

/* ---- dense linear algebra (PiSSA / OLoRA initialisation; CPU only, fp32, LAPACK from OpenBLAS) ------------ */
/* Thin SVD of a row-major [m, n] fp32 matrix: a = u diag(s) vt with k = min(m, n), u [m, k] (orthonormal
 * columns), s [k] (descending, >= 0), vt [k, n] (orthonormal rows). LAPACK sgesdd, which is what
 * torch.linalg.svd(full_matrices=False) runs on the CPU; singular vectors are unique only up to a sign per pair.
 * a is not modified. device must be JSW_CPU (JSW_ERR_UNSUPPORTED otherwise, and in a build without OpenBLAS). */
int jsw_linalg_svd_f32(int device, const float* a, int64_t m, int64_t n, float* u, float* s, float* vt);
/* Thin (reduced) QR of a row-major [m, n] fp32 matrix: a = q r with k = min(m, n), q [m, k] (orthonormal
 * columns), r [k, n] (upper triangular). Householder QR, LAPACK sgeqrf + sorgqr, as torch.linalg.qr(mode=
 * 'reduced') on the CPU (diagonal of r not normalised to be positive, so signs match torch's). Same device and
 * build conditions as jsw_linalg_svd_f32. */
int jsw_linalg_qr_f32(int device, const float* a, int64_t m, int64_t n, float* q, float* r);

/* ---- Randomized truncated SVD (GaLore projector refresh; added by the rsvd feature) ------------------ */
/* Top-`rank` singular triplets of a row-major [m, n] fp32 matrix a: u [m, rank] (orthonormal columns),
 * s [rank] (descending, >= 0), vt [rank, n] (orthonormal rows), with a ~ u diag(s) vt on the leading subspace.
 * Randomized range finder (Halko, Martinsson & Tropp 2011, alg. 4.4): a Gaussian sketch of width
 * k = min(rank + oversample, min(m, n)), drawn from a counter-based hash of `seed` (the CPU and CUDA twins draw the
 * same one), then `power_iters` power iterations with re-orthonormalisation after every product (CholeskyQR2,
 * dependent columns refilled), then the SVD of the k x k core. With a spectral gap the result approaches the
 * exact top-rank subspace geometrically in power_iters; it is exact when rank(a) <= k. Vectors are unique only up
 * to a sign per pair (and a rotation within repeated singular values). device: JSW_CPU or a CUDA device (every
 * pointer on it); the k x k steps run on the host either way. Needs 1 <= rank <= min(m, n), oversample >= 0,
 * 0 <= power_iters <= 64; a non-finite a is JSW_ERR_INVALID_ARGUMENT. a is not modified. */
int jsw_linalg_rsvd_f32(int device, const float* a, int64_t m, int64_t n, int64_t rank, int64_t oversample,
                        int64_t power_iters, uint64_t seed, float* u, float* s, float* vt);

/* ---- GPTQ (AutoGPTQ / GPTQModel "gptq" v1 checkpoint layout) ------------------------------------------- */
/* Dequantizes one GPTQ linear into the dense [out, in] row-major weight. With p = 32 / bits values per word:
 * qweight int32 [in / p, out]: input p*r + j of output c in bits bits*j .. bits*j + bits-1 of word [r, c];
 * qzeros int32 [groups, out / p]: zero of output p*s + j in the j-th bits-wide field of word [g, s], stored as
 * zero - 1 and read as (field + 1) & (2^bits - 1), as AutoGPTQ's reference dequantization does (a field of all
 * ones is a zero of 0); scales f16 [groups, out];
 * g_idx int32 [in], the group of each input (non-monotone with act-order), each in [0, groups).
 * out[c, k] = float(scales[g, c]) * float(q[k, c] - zero[g, c]), g = g_idx[k], one fp32 product rounded
 * once to dtype. bits 2, 4 or 8; in and out multiples of p. The CPU twin rejects an out-of-range g_idx value;
 * the CUDA twin (which cannot report it) writes NaN for those inputs. */
int jsw_gptq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                        const int32_t* g_idx, int64_t in, int64_t out, int bits, int64_t groups, void* w);
/* Running Hessian of a linear's inputs, GPTQ's add_batch: with x f32 [rows, in] the next calibration inputs and
 * `seen` the rows already accumulated, h f32 [in, in] becomes h * seen / (seen + rows) + 2 / (seen + rows) x^T x,
 * i.e. 2/N sum x x^T over all N rows seen. CPU and CUDA (one fp32 GEMM). */
int jsw_gptq_hessian_add(int device, const float* x, int64_t rows, int64_t in, float* h, int64_t seen);
/* Quantizes one linear (CPU, or CUDA with block <= 128: there the Hessian is factored on the host and the column
 * updates run on the device; the twins agree to fp32 rounding, not bit for bit). w f32 [out, in] row-major is overwritten by its quantized values (dequantized
 * in fp32: exactly what jsw_gptq_dequantize gives for the packed result). h f32 [in, in] is the Hessian
 * (jsw_gptq_hessian_add) and is destroyed; h NULL is plain round-to-nearest (RTN, the baseline: no error
 * feedback, desc_act ignored). GPTQ as IST-DASLab / AutoGPTQ fasterquant: dead inputs (h_ii = 0) get h_ii = 1
 * and a zero weight column; desc_act permutes columns by descending diag(h) (stable order on ties); h += percdamp
 * * mean(diag h) * I; Hinv = the upper Cholesky factor of h^-1 (LAPACK spotrf/spotri when the library links
 * OpenBLAS); columns in lazy batches of `block`, each column quantized, its error (w - q) / Hinv_ii spread over
 * the rest of the batch, the batch's errors over the remaining columns with one GEMM. Group parameters (one
 * group per group_size columns in processing order; group_size -1: one group of all `in`) come from AutoGPTQ's
 * quantizer on the group's columns as they stand when the group starts: xmin = min(w, 0), xmax = max(w, 0)
 * (both 0: -1, +1); sym: xmax = max(|xmin|, xmax), xmin = -xmax if xmin < 0, zero = 2^(bits-1); scale = (xmax -
 * xmin) / maxq, asym zero = round(-xmin / scale). Two deviations keep the checkpoint exact: each scale is
 * rounded to the f16 the checkpoint stores (a zero becomes the smallest f16 subnormal) before it is used, and
 * an asym zero is at least 1, as the v1 layout cannot store a zero of 0 (AutoGPTQ's packer would wrap its -1
 * into the neighbouring fields). q = clamp(round_half_even(w / scale) + zero, 0, maxq), value = scale * (q -
 * zero). Outputs (original column order): codes int32 [out, in], scales f32 [groups, out], zeros int32 [groups,
 * out] (the true zero points), g_idx int32 [in], *loss = sum (w - value)^2 / Hinv_ii^2 / 2 over the processed
 * columns (GPTQ's reported error; RTN: sum (w - value)^2 / 2). bits 2..8. Fails, naming damp_percent, when h
 * is not positive definite. */
int jsw_gptq_quantize(int device, float* w, float* h, int64_t out, int64_t in, int bits, int64_t group_size,
                      int sym, int desc_act, float percdamp, int64_t block, int32_t* codes, float* scales,
                      int32_t* zeros, int32_t* g_idx, double* loss);

/* ---- AWQ (AutoAWQ "GEMM" checkpoint layout; added with the AWQ export/loading feature) ------------------- */
/* Dequantizes one AWQ linear into the dense [out, in] row-major weight (the checkpoint stores it transposed).
 * qweight int32 [in, out / 8]: 4-bit codes packed along the OUTPUT dim, interleaved: nibble i (bits 4i..4i+3)
 * of word [k, j] holds output 8j + ORDER[i], ORDER = {0, 2, 4, 6, 1, 3, 5, 7} (AutoAWQ's order_map; output
 * 8j + m sits in nibble {0, 4, 1, 5, 2, 6, 3, 7}[m]); qzeros int32 [in / group_size, out / 8], the same packing
 * of the zero points (stored as they are, no offset); scales f16 [in / group_size, out].
 * out[c, k] = float(scales[g, c]) * float(q[k, c] - zero[g, c]), g = k / group_size, one fp32 product rounded
 * once to dtype. in a multiple of group_size (> 0), out a multiple of 8. */
int jsw_awq_dequantize(int device, int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                       int64_t in, int64_t out, int64_t group_size, void* w);
/* Fused AWQ dequant-GEMV for decode-shaped inputs: y[r, o] = sum_k x[r, k] * W[o, k] (+ bias[o]) for r < rows
 * (1..4), W the weight jsw_awq_dequantize gives for the same qweight / qzeros / scales / group_size, never
 * materialised: the packed words are read once, products accumulated in fp32 (the order differs from a GEMM's;
 * the AVX-512 one-row path sums x (q - z) per quant group and scales the sum once). x [rows, in], bias [out] (or
 * NULL) and y [rows, out] are dtype. */
int jsw_awq_gemv(int device, int dtype, const void* x, int64_t rows, int64_t in, const int32_t* qweight,
                 const int32_t* qzeros, const uint16_t* scales, int64_t out, int64_t group_size, const void* bias,
                 void* y);

/* ==== quantized matmul family (branch qmatmul): dequant-to-tile GEMM and the GPTQ dequant-GEMV ============ */
/* A product with a packed frozen weight W [out_features, in_features] that never materialises the dense
 * weight: W is dequantized one panel of output rows at a time into a small tile (fp32 on the CPU, dtype on
 * CUDA) that is multiplied right away. trans = 0 (forward): x [rows, in], y [rows, out] = x W^T + beta * y.
 * trans = 1 (frozen backward, dx = dy W): x [rows, out], y [rows, in] = x W + beta * y. x and y are dtype,
 * contiguous; products accumulate in fp32 (CUDA: cuBLAS, fp32 accumulation); beta = 0 ignores y's contents.
 * rows = 0 is a no-op. Each tile value is the format's dequantization of that value (jsw_nf4_dequantize /
 * jsw_nf4_dequantize_dq / jsw_gptq_dequantize / jsw_awq_dequantize arithmetic), so the result is the
 * dequantize-then-GEMM product up to summation order (and, on CUDA with bf16/f16, the tile's rounding to dtype, as the dense path rounds W). */
/* NF4: packed / absmax / double quantization exactly as jsw_nf4_gemv (exactly one of absmax and absmax_q). */
int jsw_nf4_matmul(int device, int dtype, const void* x, int64_t rows, int trans, const uint8_t* packed,
                   const float* absmax, const uint8_t* absmax_q, const float* nested_absmax, const float* code256,
                   float offset, int64_t out_features, int64_t in_features, int64_t blocksize, float beta, void* y);
/* GPTQ: qweight / qzeros / scales / g_idx / bits / groups exactly as jsw_gptq_dequantize (the CPU rejects an
 * out-of-range g_idx value, CUDA yields NaN for those inputs). */
int jsw_gptq_matmul(int device, int dtype, const void* x, int64_t rows, int trans, const int32_t* qweight,
                    const int32_t* qzeros, const uint16_t* scales, const int32_t* g_idx, int64_t out_features,
                    int64_t in_features, int bits, int64_t groups, float beta, void* y);
/* AWQ: qweight / qzeros / scales / group_size exactly as jsw_awq_dequantize (in_features a multiple of
 * group_size, out_features a multiple of 8). */
int jsw_awq_matmul(int device, int dtype, const void* x, int64_t rows, int trans, const int32_t* qweight,
                   const int32_t* qzeros, const uint16_t* scales, int64_t out_features, int64_t in_features,
                   int64_t group_size, float beta, void* y);
/* GPTQ dequant-GEMV for decode-shaped inputs: y [rows, out] = x [rows, in] W^T (+ bias [out], or NULL) for
 * 1 <= rows <= 8, streaming the packed weight once; W as jsw_gptq_dequantize, products accumulated in fp32
 * (the AVX-512 one-row path sums x (q - z) per quant group and scales the sum once: the same value up to fp32
 * rounding). x, bias, y are dtype. */
int jsw_gptq_gemv(int device, int dtype, const void* x, int64_t rows, const int32_t* qweight, const int32_t* qzeros,
                  const uint16_t* scales, const int32_t* g_idx, int64_t out_features, int64_t in_features, int bits,
                  int64_t groups, const void* bias, void* y);
/* ==== end of the quantized matmul family ================================================================== */

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* JSWIFT_JSWIFT_H */
