// softmax_xent.cu — fused softmax + cross-entropy from logits, forward and backward.
//
//   softmax_xent_forward:  per row r of logits (R×C): m = max z, s = Σ exp(z − m),
//                          loss[r] = Σ_c t_c ((m − z_c) + log s)  with t = (1-ls)·onehot + ls/C,
//                          correct[r] = (argmax z == label), tsum[r] = Σ_c t_c; m and s are kept
//                          for the backward. A label outside [0, C) sets *bad = 1 and gives loss NaN
//                          (never silent).
//   xent_row_sums:         out[0] = Σ loss, out[1] = Σ correct   (one block, fixed order: deterministic)
//   xent_accumulate:       acc[0] += Σ loss, acc[1] += Σ correct (float64 running sums that stay on the
//                          device across the steps of an epoch; the same fixed-order block sum)
//   softmax_xent_backward: dlogits = (exp(z − m)/s · tsum − t) · g[r · g_stride]  (g_stride 0: one scalar)
//
// Rows at or past *nvalid are padding (the static batch of a captured step whose last batch is short):
// the forward gives them loss 0 and correct 0, the backward a zero gradient. Eager calls pass INT_MAX.
//
// Sparse labels: int32 (R); dense targets: float32 (R×C), selected by `sparse`.
// Launch: forward one warp per row, 256 threads per block (8 rows), grid ceil(R/8);
//         backward one thread per element, grid ceil(R·C/256); row sums one block of 256.
// Stable for logits anywhere in float range: every term is formed from (m − z_c), never from
// m + log s (which loses log s next to a huge m) or C·m (which overflows); the label-smoothing sum
// is scaled term by term, and skipped when ls = 0 (0·inf would be NaN).
// NumPy reference: gpunet/ops/fused.py xent_numpy().

#include "xent.cuh"

extern "C" __global__ void softmax_xent_forward(
    const float* __restrict__ logits, const int* __restrict__ labels, const float* __restrict__ targets,
    float* __restrict__ loss, float* __restrict__ max_out, float* __restrict__ sum_out,
    float* __restrict__ correct, float* __restrict__ tsum_out, int* __restrict__ bad, const int* __restrict__ nvalid,
    int R, int C, int sparse, float smoothing) {
    const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / WARP;  // 64-bit: R may pass 2^27
    const int lane = threadIdx.x % WARP;
    if (row >= R) return;  // whole warps
    const float* z = logits + (long long)row * C;
    const XentRow x = xent_row(z, sparse ? labels[row] : 0, sparse ? z : targets + (long long)row * C, lane, C,
                               sparse, smoothing, row < *nvalid, bad);
    xent_store(x, row, lane, loss, max_out, sum_out, correct, tsum_out);
}

extern "C" __global__ void __launch_bounds__(256)
xent_row_sums(const float* __restrict__ loss, const float* __restrict__ correct, float* __restrict__ out, int R) {
    float a, b;
    block_sum2(loss, correct, R, &a, &b);
    if (threadIdx.x == 0) { out[0] = a; out[1] = b; }
}

extern "C" __global__ void __launch_bounds__(256)
xent_accumulate(const float* __restrict__ loss, const float* __restrict__ correct, double* __restrict__ acc, int R) {
    float a, b;
    block_sum2(loss, correct, R, &a, &b);
    if (threadIdx.x == 0) { acc[0] += (double)a; acc[1] += (double)b; }
}

extern "C" __global__ void softmax_xent_backward(
    const float* __restrict__ logits, const int* __restrict__ labels, const float* __restrict__ targets,
    const float* __restrict__ row_max, const float* __restrict__ row_sum, const float* __restrict__ tsum,
    const float* __restrict__ g, int g_stride, const int* __restrict__ nvalid, float* __restrict__ dlogits, int R,
    int C, int sparse, float smoothing) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)R * C) return;
    int r = (int)(idx / C), c = (int)(idx % C);
    if (r >= *nvalid) { dlogits[idx] = 0.f; return; }
    dlogits[idx] = xent_grad(logits[idx], c, row_max[r], row_sum[r], tsum[r], sparse ? labels[r] : 0,
                             targets + (long long)r * C, C, sparse, smoothing, g[(long long)r * g_stride]);
}
