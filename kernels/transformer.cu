// transformer.cu — what a node program's attention rules (gpunet/training/program_attention.py) need beyond the
// dense GEMMs and attention.cu's masked softmax: the per-head products and layer normalization.
//
//   bgemm:            C[z] (=|+=) alpha · A[z]·B[z] over z = (b, h) ∈ B × heads, every operand addressed by
//                     strides: A[z](i, k) = A[b·aB + h·aH + i·aR + k·aK] · scale_a, B[z](k, j) likewise with
//                     (bB, bH, bK, bC), C[z](i, j) at (cB, cH, cR, cC). So the (B, T, heads, d) projections are
//                     read in place as per-head matrices (either one transposed), with no copy. scale_a multiplies
//                     each A element as it loads (MultiHeadAttention scales the query before the product).
//   ln_forward:       y = (x − mean)·rstd·γ + β over each row of C, rstd = 1/√(var + ε), var = Σ(x − mean)²/C
//                     (two passes, biased); mean and rstd kept per row; xhat = (x − mean)·rstd kept for dγ.
//   ln_backward_data: dx = rstd·(gγ − Σ gγ/C − xhat·Σ gγ·xhat/C)   (gγ = g·γ, or g without γ)
// dγ = Σ_rows g·xhat and dβ = Σ_rows g are dense.cu's bias_grad sums (graph.cu's multiply_out first).
// Launch: bgemm 256 threads, grid (⌈M/64⌉, ⌈N/64⌉, B·heads); ln_* one block of 128 threads per row.
// NumPy reference: tests/test_attention_program.py (ref_bgemm, ref_layer_norm) and gpunet/layers/misc.py.
#include "gemm_tile.cuh"

#define LN_THREADS 128

struct Strided {             // element (r, c) at p[r·rs + c·cs], times `scale`
    const float* p; long long rs, cs; float scale;
    __device__ float operator()(int r, int c) const { return p[(long long)r * rs + (long long)c * cs] * scale; }
};

extern "C" __global__ void __launch_bounds__(THREADS)
bgemm(const float* __restrict__ A, const float* __restrict__ Bm, float* __restrict__ C, int M, int N, int K,
      int heads, long long aB, long long aH, long long aR, long long aK, long long bB, long long bH, long long bK,
      long long bC, long long cB, long long cH, long long cR, long long cC, float scale_a, float alpha,
      int accumulate) {
    const int z = blockIdx.z, b = z / heads, h = z % heads;
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    float acc[4][4] = {};
    const Strided la{A + b * aB + h * aH, aR, aK, scale_a}, lb{Bm + b * bB + h * bH, bK, bC, 1.f};
    // the tile loads walk whichever axis is contiguous in memory (coalesced reads; the sums are the same)
    if (aK == 1 && bK == 1) gemm_tile<true, true>(M, N, K, la, lb, row0, col0, acc);
    else if (aK == 1) gemm_tile<true, false>(M, N, K, la, lb, row0, col0, acc);
    else if (bK == 1) gemm_tile<false, true>(M, N, K, la, lb, row0, col0, acc);
    else gemm_tile<false, false>(M, N, K, la, lb, row0, col0, acc);
    float* c = C + b * cB + h * cH;
    for_each_acc(M, N, row0, col0, acc, [&](int r, int col, float v) {
        long long o = (long long)r * cR + (long long)col * cC;
        c[o] = accumulate ? c[o] + alpha * v : alpha * v;
    });
}

__device__ __forceinline__ float ln_block_sum(float v, float* sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = LN_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    float out = sh[0];
    __syncthreads();
    return out;
}

extern "C" __global__ void __launch_bounds__(LN_THREADS)
ln_forward(const float* __restrict__ x, const float* __restrict__ gamma, const float* __restrict__ beta,
           float* __restrict__ y, float* __restrict__ xhat, float* __restrict__ rstd, int C, float eps,
           int has_gamma, int has_beta) {
    __shared__ float sh[LN_THREADS];
    const long long row = blockIdx.x;
    const float* xr = x + row * C;
    float s = 0.f;
    for (int c = threadIdx.x; c < C; c += LN_THREADS) s += xr[c];
    const float mean = ln_block_sum(s, sh) / (float)C;
    float q = 0.f;
    for (int c = threadIdx.x; c < C; c += LN_THREADS) {
        float d = xr[c] - mean;
        q += d * d;
    }
    const float var = ln_block_sum(q, sh) / (float)C;
    const float r = 1.f / sqrtf(var + eps);
    for (int c = threadIdx.x; c < C; c += LN_THREADS) {
        float h = (xr[c] - mean) * r;
        xhat[row * C + c] = h;
        float v = has_gamma ? h * gamma[c] : h;
        y[row * C + c] = has_beta ? v + beta[c] : v;
    }
    if (threadIdx.x == 0) rstd[row] = r;
}

extern "C" __global__ void __launch_bounds__(LN_THREADS)
ln_backward_data(const float* __restrict__ g, const float* __restrict__ xhat, const float* __restrict__ rstd,
                 const float* __restrict__ gamma, float* __restrict__ dx, int C, int has_gamma) {
    __shared__ float sh[LN_THREADS];
    const long long row = blockIdx.x;
    const float* gr = g + row * C;
    const float* hr = xhat + row * C;
    float s1 = 0.f, s2 = 0.f;
    for (int c = threadIdx.x; c < C; c += LN_THREADS) {
        float gg = has_gamma ? gr[c] * gamma[c] : gr[c];
        s1 += gg;
        s2 += gg * hr[c];
    }
    const float m1 = ln_block_sum(s1, sh) / (float)C, m2 = ln_block_sum(s2, sh) / (float)C;
    const float r = rstd[row];
    for (int c = threadIdx.x; c < C; c += LN_THREADS) {
        float gg = has_gamma ? gr[c] * gamma[c] : gr[c];
        dx[row * C + c] = r * (gg - m1 - hr[c] * m2);
    }
}
