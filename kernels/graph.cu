// graph.cu — the elementwise glue between the layers of a node program (gpunet/training/graph_program.py): what
// a Functional graph needs besides the layers' own kernels. Nothing here takes a per-step value by value, so the
// launches are captured once in the step's CUDA graph.
//
//   act_forward:     y = act(x)                          (an Activation layer that cannot fold into a GEMM epilogue)
//   act_backward:    dx = g · act'(x, y)                 (act' from the input (gelu) or the output (the others))
//   add2:            y = a + b                           (Add, and the sum of two gradients reaching one tensor)
//   add_into:        y += a                              (a third and later gradient, an Add of more inputs)
//   multiply_out:    y = g · m                           (dropout's backward when g is shared with another branch)
//   moving_update:   v = v·momentum + s·(1 − momentum)   (BatchNormalization's moving mean and variance, on the
//                    device: each product rounded on its own, as the NumPy layer computes it)
//
// Launch: one thread per element, 256 threads per block, 1-D grid; n as long long (buffers may pass 2^31).
// (The spatial layers' kernels follow at the end of the file.)
// NumPy reference: tests/test_graph_program.py (the kernels' row there) and gpunet/layers/normalization.py.
#include "gemm_tile.cuh"

#define EW_THREADS 256

__device__ __forceinline__ long long ew_index() { return (long long)blockIdx.x * EW_THREADS + threadIdx.x; }

extern "C" __global__ void __launch_bounds__(EW_THREADS)
act_forward_ew(const float* __restrict__ x, float* __restrict__ y, long long n, int act) {
    long long i = ew_index();
    if (i < n) y[i] = act_forward(x[i], act);
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
act_backward_ew(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ y,
                float* __restrict__ dx, long long n, int act) {
    long long i = ew_index();
    if (i < n) dx[i] = g[i] * act_grad(x[i], y[i], act);
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
add2(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, long long n) {
    long long i = ew_index();
    if (i < n) y[i] = a[i] + b[i];
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
add_into(float* __restrict__ y, const float* __restrict__ a, long long n) {
    long long i = ew_index();
    if (i < n) y[i] += a[i];
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
multiply_out(const float* __restrict__ g, const float* __restrict__ m, float* __restrict__ y, long long n) {
    long long i = ew_index();
    if (i < n) y[i] = g[i] * m[i];
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
moving_update(float* __restrict__ v, const float* __restrict__ s, long long n, float momentum, float rest) {
    long long i = ew_index();
    if (i < n) v[i] = __fadd_rn(__fmul_rn(v[i], momentum), __fmul_rn(s[i], rest));
}

// ---- the spatial layers without weights (channels_last (N, H, W, C); a 1-D layer runs with H = 1) ----
//   window_copy:        dst[n, i, j, c] = src[n, i + oh, j + ow, c], 0 outside src (ZeroPadding: oh, ow < 0,
//                       Cropping: > 0; each one's backward is the other's forward)
//   upsample_forward:   y[n, i, j, c] = x[n, i / sh, j / sw, c]                    (UpSampling, "nearest")
//   upsample_backward:  dx[n, i, j, c] = Σ_a (Σ_b g[n, i·sh + a, j·sw + b, c])     (repeat's order: W, then H)
//   channel_scale:      y[n, s, c] = x[n, s, c] · m[n, c]                          (SpatialDropout's mask, both ways)

extern "C" __global__ void __launch_bounds__(EW_THREADS)
window_copy(const float* __restrict__ src, float* __restrict__ dst, int N, int Hs, int Ws, int Hd, int Wd, int C,
            int oh, int ow) {
    long long e = ew_index();
    if (e >= (long long)N * Hd * Wd * C) return;
    int c = (int)(e % C);
    long long r = e / C;
    int j = (int)(r % Wd);
    r /= Wd;
    int i = (int)(r % Hd), n = (int)(r / Hd);
    int si = i + oh, sj = j + ow;
    dst[e] = (si >= 0 && si < Hs && sj >= 0 && sj < Ws) ? src[(((long long)n * Hs + si) * Ws + sj) * C + c] : 0.f;
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
upsample_forward(const float* __restrict__ x, float* __restrict__ y, int N, int H, int W, int C, int sh, int sw) {
    long long e = ew_index();
    const int OH = H * sh, OW = W * sw;
    if (e >= (long long)N * OH * OW * C) return;
    int c = (int)(e % C);
    long long r = e / C;
    int j = (int)(r % OW);
    r /= OW;
    int i = (int)(r % OH), n = (int)(r / OH);
    y[e] = x[(((long long)n * H + i / sh) * W + j / sw) * C + c];
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
upsample_backward(const float* __restrict__ g, float* __restrict__ dx, int N, int H, int W, int C, int sh, int sw) {
    long long e = ew_index();
    if (e >= (long long)N * H * W * C) return;
    int c = (int)(e % C);
    long long r = e / C;
    int j = (int)(r % W);
    r /= W;
    int i = (int)(r % H), n = (int)(r / H);
    const int OH = H * sh, OW = W * sw;
    float s = 0.f;
    for (int a = 0; a < sh; ++a) {
        float t = 0.f;
        for (int b = 0; b < sw; ++b) t += g[(((long long)n * OH + i * sh + a) * OW + j * sw + b) * C + c];
        s += t;
    }
    dx[e] = s;
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
channel_scale(const float* __restrict__ x, const float* __restrict__ m, float* __restrict__ y, long long n, int S,
              int C) {
    long long e = ew_index();
    if (e >= n) return;
    long long q = e / C;
    y[e] = x[e] * m[(q / S) * C + e % C];
}

//   bias_act:           z += b[i % C] (has_bias), y = act(z)      (Conv1DTranspose/2DTranspose's bias and activation,
//                       after the transposed product; z keeps the pre-activation gelu's derivative reads)
extern "C" __global__ void __launch_bounds__(EW_THREADS)
bias_act(float* __restrict__ z, const float* __restrict__ b, float* __restrict__ y, long long n, int C, int act,
         int has_bias) {
    long long i = ew_index();
    if (i >= n) return;
    float v = z[i] + (has_bias ? b[i % C] : 0.f);
    z[i] = v;
    y[i] = act_forward(v, act);
}
