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

#define BM 64
#define BN 64
#define BK 16
#define THREADS 256

enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_SIGMOID = 2, ACT_TANH = 3, ACT_GELU = 4, ACT_GELU_TANH = 5 };

__device__ __forceinline__ float act_forward(float z, int act) {
    switch (act) {
    case ACT_RELU: return z > 0.f ? z : 0.f;
    case ACT_SIGMOID: return 1.f / (1.f + expf(-z));
    case ACT_TANH: return tanhf(z);
    case ACT_GELU: return 0.5f * z * (1.f + erff(z * 0.70710678118654752f));
    case ACT_GELU_TANH: {
        float t = tanhf(0.79788456080286536f * (z + 0.044715f * z * z * z));
        return 0.5f * z * (1.f + t);
    }
    default: return z;
    }
}

// d act / d z, from the pre-activation z (gelu) or the output y (the others)
__device__ __forceinline__ float act_grad(float z, float y, int act) {
    switch (act) {
    case ACT_RELU: return y > 0.f ? 1.f : 0.f;
    case ACT_SIGMOID: return y * (1.f - y);
    case ACT_TANH: return 1.f - y * y;
    case ACT_GELU: {
        float cdf = 0.5f * (1.f + erff(z * 0.70710678118654752f));
        return cdf + z * 0.39894228040143268f * expf(-0.5f * z * z);
    }
    case ACT_GELU_TANH: {
        const float c = 0.79788456080286536f;
        float t = tanhf(c * (z + 0.044715f * z * z * z));
        return 0.5f * (1.f + t) + 0.5f * z * (1.f - t * t) * c * (1.f + 3.f * 0.044715f * z * z);
    }
    default: return 1.f;
    }
}

struct RowMajor {            // element (r, c) of a row-major matrix with `ld` columns
    const float* p; int ld;
    __device__ float operator()(int r, int c) const { return p[(long long)r * ld + c]; }
};
struct Transposed {          // element (r, c) of the transpose of a row-major matrix with `ld` columns
    const float* p; int ld;
    __device__ float operator()(int r, int c) const { return p[(long long)c * ld + r]; }
};
struct ActGrad {             // dz(r, c) = dY(r, c) * act'(Z(r, c), Y(r, c)), computed on load
    const float* dy; const float* y; const float* z; int ld; int act;
    __device__ float operator()(int r, int c) const {
        long long i = (long long)r * ld + c;
        float g = dy[i];
        if (act == ACT_LINEAR) return g;
        return g * act_grad(z ? z[i] : 0.f, y[i], act);
    }
};

// C tile (rows × cols, inner dimension `inner`) = A(rows × inner) · B(inner × cols).
// A_COLS_CONTIGUOUS: consecutive inner indices of A are adjacent in memory (pick the load order
// that keeps a warp's global reads coalesced).
template <bool A_INNER_CONTIGUOUS, class LA, class LB>
__device__ __forceinline__ void gemm_tile(int rows, int cols, int inner, LA la, LB lb,
                                          int row0, int col0, float acc[4][4]) {
    __shared__ float As[BK][BM + 4];
    __shared__ float Bs[BK][BN + 4];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    for (int k0 = 0; k0 < inner; k0 += BK) {
        for (int i = tid; i < BM * BK; i += THREADS) {
            int r, k;
            if (A_INNER_CONTIGUOUS) { r = i / BK; k = i % BK; } else { r = i % BM; k = i / BM; }
            int gr = row0 + r, gk = k0 + k;
            As[k][r] = (gr < rows && gk < inner) ? la(gr, gk) : 0.f;
        }
        for (int i = tid; i < BK * BN; i += THREADS) {
            int k = i / BN, c = i % BN;
            int gk = k0 + k, gc = col0 + c;
            Bs[k][c] = (gk < inner && gc < cols) ? lb(gk, gc) : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) { a[i] = As[k][ty * 4 + i]; b[i] = Bs[k][tx * 4 + i]; }
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
dense_forward(const float* __restrict__ X, const float* __restrict__ W, const float* __restrict__ b,
              float* __restrict__ Y, float* __restrict__ Z, int M, int K, int N, int act,
              int has_bias, int store_z) {
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;  // row0 < M <= 2^31 - 1
    float acc[4][4] = {};
    gemm_tile<true>(M, N, K, RowMajor{X, K}, RowMajor{W, N}, row0, col0, acc);
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        int m = row0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int n = col0 + tx * 4 + j;
            if (n >= N) continue;
            float z = acc[i][j] + (has_bias ? b[n] : 0.f);
            long long idx = (long long)m * N + n;
            if (store_z) Z[idx] = z;
            Y[idx] = act_forward(z, act);
        }
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
dense_backward_data(const float* __restrict__ dY, const float* __restrict__ Y, const float* __restrict__ Z,
                    const float* __restrict__ W, float* __restrict__ dX, int M, int K, int N, int act,
                    int has_z) {
    // dX (M×K) = dz (M×N) · Wᵀ (N×K)
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    float acc[4][4] = {};
    gemm_tile<true>(M, K, N, ActGrad{dY, Y, has_z ? Z : nullptr, N, act}, Transposed{W, N}, row0, col0, acc);
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        int m = row0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int k = col0 + tx * 4 + j;
            if (k < K) dX[(long long)m * K + k] = acc[i][j];
        }
    }
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
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        int k = row0 + ty * 4 + i;
        if (k >= K) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int n = col0 + tx * 4 + j;
            if (n < N) dW[(long long)k * N + n] = acc[i][j];
        }
    }
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
