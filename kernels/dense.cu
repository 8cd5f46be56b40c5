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
//
// Small-M variants (GPU-REVIEW-2 §7: a 32-row batch gives the 784×128 forward two blocks on 132 SMs):
//   dense_forward_partial / dense_backward_data_partial: split-K. The inner dimension is cut into S chunks
//     of `chunk` (a multiple of BK); block z of the grid's third axis multiplies chunk z into P[z] (S×rows×cols).
//   splitk_reduce: sums the S partials in the order z = 0..S-1, adds the bias and applies the activation
//     (Z kept for gelu); deterministic, and equal to the tile kernel up to the order of the additions.
//   bias_grad_partial / bias_grad_final: db = Σ_rows dz for many rows (a conv's N·OH·OW), in parallel:
//     blocks of 32 columns × a chunk of rows (8 row lanes combined in a fixed order), then the chunks summed
//     in order. dense_backward_weight's own db (the x == 0 blocks, 4 lanes per column) stays for few rows.
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
    gemm_tile<true, true>(M, K, N, ActGrad{dY, Y, has_z ? Z : nullptr, N, act}, Transposed{W, N}, row0, col0, acc);
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

extern "C" __global__ void __launch_bounds__(THREADS)
dense_forward_partial(const float* __restrict__ X, const float* __restrict__ W, float* __restrict__ P, int M,
                      int K, int N, int chunk) {
    // P[z] (M×N) = X[:, k0:k1] · W[k0:k1, :] for the z-th chunk of the inner dimension
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    const int k0 = blockIdx.z * chunk, klen = chunk < K - k0 ? chunk : K - k0;
    float acc[4][4] = {};
    gemm_tile<true>(M, N, klen, RowMajor{X + k0, K}, RowMajor{W + (long long)k0 * N, N}, row0, col0, acc);
    float* Pz = P + (long long)blockIdx.z * M * N;
    for_each_acc(M, N, row0, col0, acc, [&](int r, int c, float v) { Pz[(long long)r * N + c] = v; });
}

extern "C" __global__ void __launch_bounds__(THREADS)
dense_backward_data_partial(const float* __restrict__ dY, const float* __restrict__ Y, const float* __restrict__ Z,
                            const float* __restrict__ W, float* __restrict__ P, int M, int K, int N, int act,
                            int has_z, int chunk) {
    // P[z] (M×K) = dz[:, n0:n1] · W[:, n0:n1]ᵀ for the z-th chunk of N
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    const int n0 = blockIdx.z * chunk, nlen = chunk < N - n0 ? chunk : N - n0;
    float acc[4][4] = {};
    gemm_tile<true, true>(M, K, nlen, ActGrad{dY + n0, Y + n0, has_z ? Z + n0 : nullptr, N, act},
                          Transposed{W + n0, N}, row0, col0, acc);
    float* Pz = P + (long long)blockIdx.z * M * K;
    for_each_acc(M, K, row0, col0, acc, [&](int r, int c, float v) { Pz[(long long)r * K + c] = v; });
}

extern "C" __global__ void __launch_bounds__(256)
splitk_reduce(const float* __restrict__ P, const float* __restrict__ b, float* __restrict__ Y, float* __restrict__ Z,
              long long MN, int N, int S, int act, int has_bias, int store_z) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= MN) return;
    float v = 0.f;
    for (int z = 0; z < S; ++z) v += P[(long long)z * MN + i];
    const float pre = v + (has_bias ? b[i % N] : 0.f);
    if (store_z) Z[i] = pre;
    Y[i] = act_forward(pre, act);
}

extern "C" __global__ void __launch_bounds__(256)
bias_grad_partial(const float* __restrict__ dY, const float* __restrict__ Y, const float* __restrict__ Z,
                  float* __restrict__ part, int M, int N, int act, int has_z, int rows_per_block) {
    // part[y][n] = Σ over rows [y·rows_per_block, ...) of dz(m, n), for this block's 32 columns
    __shared__ float s[8][33];
    const int c = threadIdx.x % 32, q = threadIdx.x / 32, n = blockIdx.x * 32 + c;
    const long long m0 = (long long)blockIdx.y * rows_per_block;
    const long long m1 = m0 + rows_per_block < M ? m0 + rows_per_block : (long long)M;
    ActGrad dz{dY, Y, has_z ? Z : nullptr, N, act};
    float v = 0.f;
    if (n < N)
        for (long long m = m0 + q; m < m1; m += 8) v += dz((int)m, n);
    s[q][c] = v;
    __syncthreads();
    if (q == 0 && n < N)
        part[(long long)blockIdx.y * N + n] = ((s[0][c] + s[1][c]) + (s[2][c] + s[3][c])) +
                                             ((s[4][c] + s[5][c]) + (s[6][c] + s[7][c]));
}

extern "C" __global__ void __launch_bounds__(256)
bias_grad_final(const float* __restrict__ part, float* __restrict__ db, int N, int chunks) {
    const long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    float t = 0.f;
    for (int p = 0; p < chunks; ++p) t += part[(long long)p * N + n];
    db[n] = t;
}
