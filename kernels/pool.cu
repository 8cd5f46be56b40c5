// pool.cu — 2-D max and average pooling (1-D runs as H = 1), forward and backward, channels_last.
//
//   max_pool_forward:   y = the window's maximum, arg = its tap (kh·KW + kw) — the first maximum in
//                       window order (strictly greater replaces), padding reads as −∞
//   max_pool_backward:  dx(i) = Σ over windows o covering i whose arg is i's tap of dy(o)
//   avg_pool_forward:   y = (Σ real inputs of the window) · 1/count, count = real inputs covered
//                       (Keras averages a 'same' window over its real inputs only)
//   avg_pool_backward:  dx(i) = Σ over windows o covering i of dy(o) · 1/count(o)
//
// Layout: x, dx (N, H, W, C); y, dy, arg (N, OH, OW, C). Window (oh, ow) reads input
// (oh·sh − ph + kh, ow·sw − pw + kw). One thread per output (forward) or per input (backward):
// the backward gathers over the windows that cover its input, in tap order, so there are no atomics
// and the sums come out in the NumPy reference's order. Launch: 256 threads, 1-D grid.
// NumPy reference: gpunet/ops/pooling.py max_pool_forward/backward, avg_pool_forward/backward.

#define POOL_THREADS 256
#define NEG_INF (-__int_as_float(0x7f800000))

__device__ __forceinline__ void pool_pos(long long i, int A, int B, int C, int& n, int& a, int& b, int& c) {
    c = (int)(i % C); long long t = i / C;
    b = (int)(t % B); t /= B;
    a = (int)(t % A); n = (int)(t / A);
}

// calls f(o, tap) for each window o that covers input (n, ih, iw, c), in tap order: the backward passes
// gather this way (one thread per input, no atomics, the reference's summation order)
template <class Fn>
__device__ __forceinline__ void for_each_window(int n, int ih, int iw, int c, int C, int OH, int OW, int KH, int KW,
                                                int sh, int sw, int ph, int pw, Fn f) {
    for (int kh = 0; kh < KH; ++kh) {
        int th = ih + ph - kh;
        if (th < 0 || th % sh) continue;
        int oh = th / sh;
        if (oh >= OH) continue;
        for (int kw = 0; kw < KW; ++kw) {
            int tw = iw + pw - kw;
            if (tw < 0 || tw % sw) continue;
            int ow = tw / sw;
            if (ow >= OW) continue;
            f((((long long)n * OH + oh) * OW + ow) * C + c, kh * KW + kw, oh, ow);
        }
    }
}

extern "C" __global__ void __launch_bounds__(POOL_THREADS)
max_pool_forward(const float* __restrict__ x, float* __restrict__ y, int* __restrict__ arg, int N, int H, int W,
                 int C, int OH, int OW, int KH, int KW, int sh, int sw, int ph, int pw) {
    long long i = (long long)blockIdx.x * POOL_THREADS + threadIdx.x;
    if (i >= (long long)N * OH * OW * C) return;
    int n, oh, ow, c;
    pool_pos(i, OH, OW, C, n, oh, ow, c);
    float best = NEG_INF;
    int at = 0;
    for (int kh = 0; kh < KH; ++kh)
        for (int kw = 0; kw < KW; ++kw) {
            int ih = oh * sh - ph + kh, iw = ow * sw - pw + kw;
            float v = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[(((long long)n * H + ih) * W + iw) * C + c]
                                                                : NEG_INF;
            int t = kh * KW + kw;
            if (t == 0) { best = v; at = 0; }
            else if (v > best) { best = v; at = t; }
        }
    y[i] = best;
    arg[i] = at;
}

extern "C" __global__ void __launch_bounds__(POOL_THREADS)
max_pool_backward(const float* __restrict__ dy, const int* __restrict__ arg, float* __restrict__ dx, int N, int H,
                  int W, int C, int OH, int OW, int KH, int KW, int sh, int sw, int ph, int pw) {
    long long i = (long long)blockIdx.x * POOL_THREADS + threadIdx.x;
    if (i >= (long long)N * H * W * C) return;
    int n, ih, iw, c;
    pool_pos(i, H, W, C, n, ih, iw, c);
    float sum = 0.f;
    for_each_window(n, ih, iw, c, C, OH, OW, KH, KW, sh, sw, ph, pw, [&](long long o, int tap, int, int) {
        if (arg[o] == tap) sum += dy[o];
    });
    dx[i] = sum;
}

// 1/count of window (oh, ow): how many of its taps fall on real input
__device__ __forceinline__ float inv_count(int oh, int ow, int H, int W, int KH, int KW, int sh, int sw, int ph,
                                           int pw) {
    int h0 = oh * sh - ph, w0 = ow * sw - pw;
    int ch = (h0 + KH < H ? h0 + KH : H) - (h0 > 0 ? h0 : 0);  // no min/max: HIP-CPU's host build lacks them
    int cw = (w0 + KW < W ? w0 + KW : W) - (w0 > 0 ? w0 : 0);
    return (float)(1.0 / ((double)ch * (double)cw));
}

extern "C" __global__ void __launch_bounds__(POOL_THREADS)
avg_pool_forward(const float* __restrict__ x, float* __restrict__ y, int N, int H, int W, int C, int OH, int OW,
                 int KH, int KW, int sh, int sw, int ph, int pw) {
    long long i = (long long)blockIdx.x * POOL_THREADS + threadIdx.x;
    if (i >= (long long)N * OH * OW * C) return;
    int n, oh, ow, c;
    pool_pos(i, OH, OW, C, n, oh, ow, c);
    float sum = 0.f;
    for (int kh = 0; kh < KH; ++kh)
        for (int kw = 0; kw < KW; ++kw) {
            int ih = oh * sh - ph + kh, iw = ow * sw - pw + kw;
            float v = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[(((long long)n * H + ih) * W + iw) * C + c] : 0.f;
            sum = (kh == 0 && kw == 0) ? v : sum + v;
        }
    y[i] = sum * inv_count(oh, ow, H, W, KH, KW, sh, sw, ph, pw);
}

extern "C" __global__ void __launch_bounds__(POOL_THREADS)
avg_pool_backward(const float* __restrict__ dy, float* __restrict__ dx, int N, int H, int W, int C, int OH, int OW,
                  int KH, int KW, int sh, int sw, int ph, int pw) {
    long long i = (long long)blockIdx.x * POOL_THREADS + threadIdx.x;
    if (i >= (long long)N * H * W * C) return;
    int n, ih, iw, c;
    pool_pos(i, H, W, C, n, ih, iw, c);
    float sum = 0.f;
    for_each_window(n, ih, iw, c, C, OH, OW, KH, KW, sh, sw, ph, pw, [&](long long o, int, int oh, int ow) {
        sum += dy[o] * inv_count(oh, ow, H, W, KH, KW, sh, sw, ph, pw);
    });
    dx[i] = sum;
}
