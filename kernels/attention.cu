// attention.cu — attention's masked softmax over the last axis, forward and backward.
//
// masked_softmax_forward: y = softmax(x + (1 − mask)·(−1e9))·mask over the last axis of (R, L) scores —
// Keras's masked softmax (a fully masked row comes out all zeros, as in Keras). The mask is (M, L) bytes shared
// by the heads (MultiHeadAttention's (B, Tq, Tk) attention mask against (B, heads, Tq, Tk) scores): score
// row r reads mask row (r / (heads·Tq))·Tq + r % Tq; heads = 0 means no mask (any 1-byte buffer).
// masked_softmax_backward: dx = y·(dy − Σ dy·y).
// One block of 128 threads per row; the row's max and sum are fixed-shape tree reductions in shared
// memory (deterministic). Launch: grid (R), block (128).
// NumPy reference: gpunet/ops/attention.py masked_softmax.

#define SOFTMAX_THREADS 128

__device__ __forceinline__ float softmax_block_reduce(float v, float* sh, bool is_max) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = SOFTMAX_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float o = sh[threadIdx.x + s];
            sh[threadIdx.x] = is_max ? fmaxf(sh[threadIdx.x], o) : sh[threadIdx.x] + o;
        }
        __syncthreads();
    }
    float out = sh[0];
    __syncthreads();
    return out;
}

__device__ __forceinline__ long long softmax_mask_row(long long r, int heads, int Tq) {
    return (r / ((long long)heads * Tq)) * Tq + r % Tq;
}

extern "C" __global__ void __launch_bounds__(SOFTMAX_THREADS)
masked_softmax_forward(const float* __restrict__ x, const unsigned char* __restrict__ mask, float* __restrict__ y,
                       int L, int heads, int Tq) {
    __shared__ float sh[SOFTMAX_THREADS];
    long long r = blockIdx.x;
    const float* xr = x + r * L;
    float* yr = y + r * L;
    const unsigned char* mr = mask + (heads > 0 ? softmax_mask_row(r, heads, Tq) * L : 0);
    float mx = -3.402823466e38f;  // −FLT_MAX: every shifted score is finite
    for (int k = threadIdx.x; k < L; k += SOFTMAX_THREADS) {
        float v = xr[k] + ((heads > 0 && !mr[k]) ? -1e9f : 0.f);
        yr[k] = v;
        mx = fmaxf(mx, v);
    }
    mx = softmax_block_reduce(mx, sh, true);
    float s = 0.f;
    for (int k = threadIdx.x; k < L; k += SOFTMAX_THREADS) {
        float e = expf(yr[k] - mx);
        yr[k] = e;
        s += e;
    }
    s = softmax_block_reduce(s, sh, false);
    float inv = 1.f / s;
    for (int k = threadIdx.x; k < L; k += SOFTMAX_THREADS) yr[k] *= (heads > 0 && !mr[k]) ? 0.f : inv;
}

extern "C" __global__ void __launch_bounds__(SOFTMAX_THREADS)
masked_softmax_backward(const float* __restrict__ y, const float* __restrict__ dy, float* __restrict__ dx, int L) {
    __shared__ float sh[SOFTMAX_THREADS];
    long long r = blockIdx.x;
    const float* yr = y + r * L;
    const float* gr = dy + r * L;
    float s = 0.f;
    for (int k = threadIdx.x; k < L; k += SOFTMAX_THREADS) s += gr[k] * yr[k];
    s = softmax_block_reduce(s, sh, false);
    for (int k = threadIdx.x; k < L; k += SOFTMAX_THREADS) dx[r * L + k] = yr[k] * (gr[k] - s);
}
