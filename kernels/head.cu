// head.cu — the fused head of a training step: the last Dense layer's logits, softmax cross-entropy forward and
// backward, and the epoch's running loss / correct sums, in one launch of one block (GPU-REVIEW-2 §7: four
// tiny kernels of ≈ 2 µs each become one).
//
//   dense_xent_head: per row r (one warp per row, 8 rows at a time):
//       Y[r] = act(h[r]·W + b)        (Z kept for gelu), each logit an fmaf chain over k in order: the same
//                                     numbers as dense_forward's 64×64 tile, which adds its k-steps in that order
//       the softmax_xent_forward row (xent.cuh): loss, max, Σ exp, correct, Σ targets
//       dlogits[r] = softmax_xent_backward's row, scaled by g[0] (0 for a padding row, r >= *nvalid)
//   then acc[0] += Σ loss, acc[1] += Σ correct over the R rows (xent_accumulate's fixed-order block sum).
//
// Layout: h (R×K), W (K×C), b (C), Y, Z, dlogits (R×C), per-row outputs (R); row-major float32. Labels int32 (R)
// when sparse, else targets (R×C). Launch: grid (1), block (256), R ≤ HEAD_MAX_ROWS (the launcher's rule; a
// larger batch takes the separate kernels). Each lane writes and reads only its own logits until the row's
// shuffles, and reads z[label] after them (a shuffle orders the warp), so rows need no other barrier.
// NumPy reference: gpunet/ops/fused.py dense() and xent_numpy(); equal bit for bit to dense_forward +
// softmax_xent_forward + xent_accumulate + softmax_xent_backward where floating-point contraction is off.

#include "gemm_tile.cuh"
#include "xent.cuh"

extern "C" __global__ void __launch_bounds__(256)
dense_xent_head(const float* __restrict__ h, const float* __restrict__ W, const float* __restrict__ b,
                float* __restrict__ Y, float* __restrict__ Z, const int* __restrict__ labels,
                const float* __restrict__ targets, float* __restrict__ loss, float* __restrict__ max_out,
                float* __restrict__ sum_out, float* __restrict__ correct, float* __restrict__ tsum_out,
                int* __restrict__ bad, const int* __restrict__ nvalid, const float* __restrict__ g,
                float* __restrict__ dlogits, double* __restrict__ acc, int R, int K, int C, int act, int has_bias,
                int store_z, int sparse, float smoothing) {
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, nwarps = blockDim.x / WARP;
    const int valid_rows = *nvalid;
    const float scale = g[0];
    // every warp runs the same number of rounds (a row past R repeats row R - 1 and stores nothing): the
    // shuffles stay aligned across the block, as the emulated tier needs
    for (int base = 0; base < R; base += nwarps) {
        const int row = base + warp < R ? base + warp : R - 1;
        const bool mine = base + warp < R;
        const float* hr = h + (long long)row * K;
        float* yr = Y + (long long)row * C;
        for (int c = lane; c < C; c += WARP) {
            float v = 0.f;
            for (int k = 0; k < K; ++k) v = fmaf(hr[k], W[(long long)k * C + c], v);
            const float pre = v + (has_bias ? b[c] : 0.f);
            if (mine) {
                if (store_z) Z[(long long)row * C + c] = pre;
                yr[c] = act_forward(pre, act);
            }
        }
        __syncwarp();
        const bool valid = row < valid_rows;
        const int lab = sparse ? labels[row] : 0;
        const float* t = sparse ? yr : targets + (long long)row * C;
        const XentRow x = xent_row(yr, lab, t, lane, C, sparse, smoothing, valid && mine, bad);
        if (!mine) continue;
        xent_store(x, row, lane, loss, max_out, sum_out, correct, tsum_out);
        for (int c = lane; c < C; c += WARP)
            dlogits[(long long)row * C + c] = valid ? xent_grad(yr[c], c, x.mx, x.s, x.tsum, lab, t, C, sparse,
                                                                smoothing, scale) : 0.f;
    }
    __syncthreads();
    float a, s;
    block_sum2(loss, correct, R, &a, &s);
    if (threadIdx.x == 0) { acc[0] += (double)a; acc[1] += (double)s; }
}
