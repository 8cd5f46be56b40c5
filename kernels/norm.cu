// norm.cu — batch normalization over every axis but one, forward (training and inference) and backward.
//
//   bn_stats:           mean(c) = Σ x / m,  var(c) = Σ (x − mean)² / m    (two passes, biased variance)
//   bn_forward:         y = (x − mean)·γ/√(var + ε) + β                   (batch or moving statistics)
//   bn_backward_reduce: dβ(c) = Σ g,  dγ(c) = Σ g·x̂,  x̂ = (x − mean)/√(var + ε)
//   bn_backward_data:   dx = γ/√(var + ε) · (g − dβ/m − x̂·dγ/m)
//
// Layout: x viewed as (A, C, B), element (a, c, b) at (a·C + c)·B + b — channels_last is B = 1,
// channels_first (N, C, H, W) is A = N, B = H·W; m = A·B.
// Valid rows (the step program's short last batch): with per_row > 0 only a < rows[0]·per_row is real
// (rows points at the control block's count of valid samples, per_row = A / batch); the statistics and
// sums cover those, m = rows[0]·per_row·B, and y (training) and dx are 0 past them, so the padding rows
// stay zero and add nothing to any weight gradient. per_row = 0: every row (the eager ops). The reductions run one block per channel
// with a fixed-shape tree in shared memory (deterministic, no atomics); the elementwise kernels run
// one thread per element. Launch: 256 threads; reductions grid (C), elementwise grid ceil(A·C·B/256).
// NumPy reference: gpunet/ops/batchnorm.py batch_norm_train / batch_norm_apply.

#define NORM_THREADS 256

__device__ __forceinline__ float block_sum(float v, float* sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = NORM_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    float out = sh[0];
    __syncthreads();
    return out;
}

__device__ __forceinline__ int valid_a(int A, const int* rows, int per_row) {
    if (per_row <= 0) return A;
    long long v = (long long)rows[0] * per_row;
    return v < A ? (int)v : A;
}

__device__ __forceinline__ long long norm_index(long long i, int c, int C, int B) {
    long long a = i / B, b = i % B;
    return (a * C + c) * B + b;
}

extern "C" __global__ void __launch_bounds__(NORM_THREADS)
bn_stats(const float* __restrict__ x, float* __restrict__ mean, float* __restrict__ var, int A, int C, int B,
         const int* __restrict__ rows, int per_row) {
    __shared__ float sh[NORM_THREADS];
    const int c = blockIdx.x;
    const long long m = (long long)valid_a(A, rows, per_row) * B;
    float s = 0.f;
    for (long long i = threadIdx.x; i < m; i += NORM_THREADS) s += x[norm_index(i, c, C, B)];
    const float mu = block_sum(s, sh) / (float)m;
    float q = 0.f;
    for (long long i = threadIdx.x; i < m; i += NORM_THREADS) {
        float d = x[norm_index(i, c, C, B)] - mu;
        q += d * d;
    }
    const float v = block_sum(q, sh) / (float)m;
    if (threadIdx.x == 0) { mean[c] = mu; var[c] = v; }
}

extern "C" __global__ void __launch_bounds__(NORM_THREADS)
bn_forward(const float* __restrict__ x, float* __restrict__ y, const float* __restrict__ mean,
           const float* __restrict__ var, const float* __restrict__ gamma, const float* __restrict__ beta,
           int A, int C, int B, float eps, int has_gamma, int has_beta, const int* __restrict__ rows, int per_row) {
    long long i = (long long)blockIdx.x * NORM_THREADS + threadIdx.x;
    if (i >= (long long)A * C * B) return;
    if (i >= (long long)valid_a(A, rows, per_row) * C * B) { y[i] = 0.f; return; }
    int c = (int)((i / B) % C);
    float inv = 1.f / sqrtf(var[c] + eps);
    float v = (x[i] - mean[c]) * inv;
    if (has_gamma) v *= gamma[c];
    if (has_beta) v += beta[c];
    y[i] = v;
}

extern "C" __global__ void __launch_bounds__(NORM_THREADS)
bn_backward_reduce(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ mean,
                   const float* __restrict__ var, float* __restrict__ dgamma, float* __restrict__ dbeta,
                   int A, int C, int B, float eps, const int* __restrict__ rows, int per_row) {
    __shared__ float sh[NORM_THREADS];
    const int c = blockIdx.x;
    const long long m = (long long)valid_a(A, rows, per_row) * B;
    const float mu = mean[c], inv = 1.f / sqrtf(var[c] + eps);
    float sg = 0.f, sgx = 0.f;
    for (long long i = threadIdx.x; i < m; i += NORM_THREADS) {
        long long j = norm_index(i, c, C, B);
        sg += g[j];
        sgx += g[j] * ((x[j] - mu) * inv);
    }
    float tg = block_sum(sg, sh);
    float tgx = block_sum(sgx, sh);
    if (threadIdx.x == 0) { dbeta[c] = tg; dgamma[c] = tgx; }
}

extern "C" __global__ void __launch_bounds__(NORM_THREADS)
bn_backward_data(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ mean,
                 const float* __restrict__ var, const float* __restrict__ gamma, const float* __restrict__ dgamma,
                 const float* __restrict__ dbeta, float* __restrict__ dx, int A, int C, int B, float eps,
                 int has_gamma, const int* __restrict__ rows, int per_row) {
    long long i = (long long)blockIdx.x * NORM_THREADS + threadIdx.x;
    if (i >= (long long)A * C * B) return;
    const int va = valid_a(A, rows, per_row);
    if (i >= (long long)va * C * B) { dx[i] = 0.f; return; }
    int c = (int)((i / B) % C);
    const float m = (float)((long long)va * B);
    float inv = 1.f / sqrtf(var[c] + eps);
    float xhat = (x[i] - mean[c]) * inv;
    float scale = has_gamma ? inv * gamma[c] : inv;
    dx[i] = scale * (g[i] - dbeta[c] / m - xhat * (dgamma[c] / m));
}
