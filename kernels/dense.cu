// dense.cu — the fused dense layer, forward and backward, with our own tiled GEMM (no cuBLAS, so
// a training step built from these kernels can be captured as a CUDA graph).
//
//   dense_forward:          Y = act(X·W + b)                 (Z = X·W + b kept only for gelu)
//   dense_backward_data:    dX = (dY ⊙ act'(Z, Y)) · Wᵀ      (dz computed while loading the tile)
//   dense_backward_weight:  dW = Xᵀ · (dY ⊙ act'(Z, Y)),  db = Σ_rows dz   (db fused, no atomics)
//
// Layout: X (M×K), W (K×N), b (N), Y, Z, dY (M×N), dX (M×K), dW (K×N); row-major float32.
// Launch: 256 threads per block, each block owns a 64×64 output tile, K-steps of 16, each thread
// a 4×4 register tile; grid = (ceil(rows/64), ceil(cols/64)), at least 1 each: row tiles on x, whose
// limit is 2^31 − 1 (on y, capped at 65535, a batch over 4,194,240 rows could not launch). Columns
// (N, or K for dX) are at most 65535·64; the launcher sends wider layers to the array path.
// Any M, K, N, zero rows included (edges are bounds-checked).
// Accumulation in float32 in a fixed order: results are deterministic run to run.
// NumPy reference: gpunet/ops/fused.py dense() and the derivative table in gpunet/ops/nn.py.

#include "gemm_tile.cuh"

extern "C" __global__ void __launch_bounds__(THREADS)
dense_forward(const float* __restrict__ X, const float* __restrict__ W, const float* __restrict__ b,
              float* __restrict__ Y, float* __restrict__ Z, int M, int K, int N, int act,
              int has_bias, int store_z) {
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;  // row0 < M <= 2^31 - 1
    float acc[4][4] = {};
    gemm_tile<true>(M, N, K, RowMajor{X, K}, RowMajor{W, N}, row0, col0, acc);
    for_each_acc(M, N, row0, col0, acc, [&](int r, int c, float v) {
        float z = v + (has_bias ? b[c] : 0.f);
        long long idx = (long long)r * N + c;
        if (store_z) Z[idx] = z;
        Y[idx] = act_forward(z, act);
    });
}

extern "C" __global__ void __launch_bounds__(THREADS)
dense_backward_data(const float* __restrict__ dY, const float* __restrict__ Y, const float* __restrict__ Z,
                    const float* __restrict__ W, float* __restrict__ dX, int M, int K, int N, int act,
                    int has_z) {
    // dX (M×K) = dz (M×N) · Wᵀ (N×K)
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    float acc[4][4] = {};
    gemm_tile<true>(M, K, N, ActGrad{dY, Y, has_z ? Z : nullptr, N, act}, Transposed{W, N}, row0, col0, acc);
    for_each_acc(M, K, row0, col0, acc, [&](int r, int c, float v) {
        dX[(long long)r * K + c] = v;
    });
}

extern "C" __global__ void __launch_bounds__(THREADS)
dense_backward_weight(const float* __restrict__ X, const float* __restrict__ dY, const float* __restrict__ Y,
                      const float* __restrict__ Z, float* __restrict__ dW, float* __restrict__ db,
                      int M, int K, int N, int act, int has_z, int has_db) {
    // dW (K×N) = Xᵀ (K×M) · dz (M×N); the blocks of the first row of tiles also write db
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    ActGrad dz{dY, Y, has_z ? Z : nullptr, N, act};
    float acc[4][4] = {};
    gemm_tile<false>(K, N, M, Transposed{X, K}, dz, row0, col0, acc);
    for_each_acc(K, N, row0, col0, acc, [&](int r, int c, float v) {
        dW[(long long)r * N + c] = v;
    });
    if (has_db && blockIdx.x == 0) {
        // 4 threads per column sum interleaved rows, then combine in a fixed order (deterministic)
        __shared__ float part[4][BN];
        int c = threadIdx.x % BN, q = threadIdx.x / BN, n = col0 + c;
        float s = 0.f;
        if (n < N)
            for (int m = q; m < M; m += 4) s += dz(m, n);
        part[q][c] = s;
        __syncthreads();
        if (q == 0 && n < N) db[n] = (part[0][c] + part[1][c]) + (part[2][c] + part[3][c]);
    }
}
