// gemm_tile.cuh — what the GEMM-based kernels share (dense.cu, conv.cu): the 64×64 block tile with
// K-steps of 16 and a 4×4 register tile per thread, the activation table and its derivative.
// A tile's operands come through loader functors, so a convolution can read its im2col matrix
// straight from the input (implicit GEMM) with the same tiling as the dense layer.
#pragma once

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
// A_INNER_CONTIGUOUS / B_INNER_CONTIGUOUS: consecutive inner indices of A / B are adjacent in memory
// (B transposed, as Wᵀ in dX = dz·Wᵀ); the tile loads then walk the inner index fastest, so a warp's
// global reads stay coalesced. The order of loads changes nothing in the result.
template <bool A_INNER_CONTIGUOUS, bool B_INNER_CONTIGUOUS = false, class LA, class LB>
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
            int k, c;
            if (B_INNER_CONTIGUOUS) { c = i / BK; k = i % BK; } else { k = i / BN; c = i % BN; }
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

// calls f(r, c, v) for each element of this thread's 4×4 tile of the block's C tile that lies inside
// rows × cols (the epilogue every GEMM kernel shares: its own bias, activation and store)
template <class F>
__device__ __forceinline__ void for_each_acc(int rows, int cols, int row0, int col0, const float acc[4][4], F f) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        int r = row0 + ty * 4 + i;
        if (r >= rows) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int c = col0 + tx * 4 + j;
            if (c < cols) f(r, c, acc[i][j]);
        }
    }
}
