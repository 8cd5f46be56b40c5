// sequence.cu — what a node program (gpunet/training/program_recurrent.py) needs around the recurrent cells of
// rnn.cu: token embeddings, the padding mask of mask_zero, and the moves between batch-major layer outputs and
// the time-major buffers the cells step through.
//
//   embedding_gather:   y[i, :] = E[id(i), :]                      (ids: float32 values, or int32 bits)
//   embedding_scatter:  dE[id(i), :] += g[i, :]                    (atomicAdd: a row may repeat; the sum's
//                       order follows the schedule, so a GPU's last bits vary run to run, as cuDNN's and
//                       PyTorch's embedding backward do)
//   token_mask:         m[t, b] = id(b, t') != 0, t' = reverse ? T−1−t : t   (uint8, time-major)
//   to_time_major:      dst[t, b, d] = src[b, t', off + d] · m[t, b] (src rows of `stride` floats)
//   from_time_major:    dst[b, t', off + d] (=|+=) src[t, b, d] · m[t, b]   (dst rows of `stride` floats)
//                       m: with has_mask, a time-major uint8 mask (zero_output_for_mask: a masked step's
//                       output is 0 and takes no gradient); else 1
//   fill:               y[i] = v
//
// id(i): (int)ids[i] for float32 ids (Embedding's cast), the bits themselves for int32 ids; an id outside
// [0, V) reads or writes nothing (the program checked every id of the data on the host once, as Embedding
// checks each batch). Launch: one thread per output element, 256 threads, 1-D grid.
// NumPy reference: tests/test_recurrent_program.py (ref_* functions) and gpunet/layers/embedding.py.

#define SEQ_THREADS 256

__device__ __forceinline__ long long seq_index() { return (long long)blockIdx.x * SEQ_THREADS + threadIdx.x; }

__device__ __forceinline__ int token_id(const float* ids, long long i, int is_int) {
    return is_int ? __float_as_int(ids[i]) : (int)ids[i];
}

extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
embedding_gather(const float* __restrict__ ids, int is_int, const float* __restrict__ E, float* __restrict__ y,
                 long long n_ids, int D, int V) {
    long long e = seq_index();
    if (e >= n_ids * D) return;
    long long i = e / D;
    int d = (int)(e % D);
    int v = token_id(ids, i, is_int);
    y[e] = (v >= 0 && v < V) ? E[(long long)v * D + d] : 0.f;
}

extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
embedding_scatter(const float* __restrict__ ids, int is_int, const float* __restrict__ g, float* __restrict__ dE,
                  long long n_ids, int D, int V) {
    long long e = seq_index();
    if (e >= n_ids * D) return;
    long long i = e / D;
    int d = (int)(e % D);
    int v = token_id(ids, i, is_int);
    if (v >= 0 && v < V) atomicAdd(dE + (long long)v * D + d, g[e]);
}

extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
token_mask(const float* __restrict__ ids, int is_int, unsigned char* __restrict__ m, int B, int T, int reverse) {
    long long e = seq_index();
    if (e >= (long long)B * T) return;
    int t = (int)(e / B), b = (int)(e % B);
    int ts = reverse ? T - 1 - t : t;
    m[e] = token_id(ids, (long long)b * T + ts, is_int) != 0;
}

extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
to_time_major(const float* __restrict__ src, float* __restrict__ dst, int B, int T, int D, int stride, int off,
              int reverse, const unsigned char* __restrict__ m, int has_mask) {
    long long e = seq_index();
    if (e >= (long long)B * T * D) return;
    int d = (int)(e % D);
    long long r = e / D;
    int b = (int)(r % B), t = (int)(r / B);
    int ts = reverse ? T - 1 - t : t;
    float v = src[((long long)b * T + ts) * stride + off + d];
    dst[e] = (has_mask && !m[(long long)t * B + b]) ? 0.f : v;
}

extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
from_time_major(const float* __restrict__ src, float* __restrict__ dst, int B, int T, int D, int stride, int off,
                int reverse, int accumulate, const unsigned char* __restrict__ m, int has_mask) {
    long long e = seq_index();
    if (e >= (long long)B * T * D) return;
    int d = (int)(e % D);
    long long r = e / D;
    int b = (int)(r % B), t = (int)(r / B);
    int ts = reverse ? T - 1 - t : t;
    long long o = ((long long)b * T + ts) * stride + off + d;
    float v = (has_mask && !m[(long long)t * B + b]) ? 0.f : src[e];
    dst[o] = accumulate ? dst[o] + v : v;
}

extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
fill(float* __restrict__ y, long long n, float v) {
    long long i = seq_index();
    if (i < n) y[i] = v;
}

//   attention_mask:       m[b, i, j] = (!use_q || id(b, i) ≠ 0) ∧ (!use_k || id(b, j) ≠ 0) ∧ (!causal || j ≤ i)
//                         (MultiHeadAttention's mask from mask_zero's query and value/key masks, uint8)
//   masked_mean_forward:  y[b, c] = Σ_t x[b, t, c]·m(b, t) / Σ_t m(b, t), m(b, t) = id(b, t) ≠ 0
//                         (GlobalAveragePooling1D under a mask; rows at or past rows[0] are the step's padding: 0)
//   masked_mean_backward: dx[b, t, c] = g[b, c]·m(b, t) / Σ_t m(b, t)   (0 on padding rows)
extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
attention_mask(const float* __restrict__ ids, int is_int, unsigned char* __restrict__ m, int B, int Tq, int Tk,
               int T, int use_q, int use_k, int causal) {
    long long e = seq_index();
    if (e >= (long long)B * Tq * Tk) return;
    int j = (int)(e % Tk);
    long long r = e / Tk;
    int i = (int)(r % Tq), b = (int)(r / Tq);
    bool keep = (!use_q || token_id(ids, (long long)b * T + i, is_int) != 0) &&
                (!use_k || token_id(ids, (long long)b * T + j, is_int) != 0) && (!causal || j <= i);
    m[e] = keep;
}

extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
masked_mean_forward(const float* __restrict__ x, const float* __restrict__ ids, int is_int, float* __restrict__ y,
                    const int* __restrict__ rows, int B, int T, int C) {
    long long e = seq_index();
    if (e >= (long long)B * C) return;
    int b = (int)(e / C), c = (int)(e % C);
    if (b >= rows[0]) { y[e] = 0.f; return; }
    float s = 0.f, n = 0.f;
    for (int t = 0; t < T; ++t) {
        float mt = token_id(ids, (long long)b * T + t, is_int) != 0 ? 1.f : 0.f;
        s += x[((long long)b * T + t) * C + c] * mt;
        n += mt;
    }
    y[e] = s / n;
}

extern "C" __global__ void __launch_bounds__(SEQ_THREADS)
masked_mean_backward(const float* __restrict__ g, const float* __restrict__ ids, int is_int, float* __restrict__ dx,
                     const int* __restrict__ rows, int B, int T, int C) {
    long long e = seq_index();
    if (e >= (long long)B * T * C) return;
    int c = (int)(e % C);
    long long r = e / C;
    int t = (int)(r % T), b = (int)(r / T);
    if (b >= rows[0]) { dx[e] = 0.f; return; }
    float n = 0.f;
    for (int u = 0; u < T; ++u) n += token_id(ids, (long long)b * T + u, is_int) != 0 ? 1.f : 0.f;
    float mt = token_id(ids, (long long)b * T + t, is_int) != 0 ? 1.f : 0.f;
    dx[e] = g[(long long)b * C + c] * mt / n;
}
