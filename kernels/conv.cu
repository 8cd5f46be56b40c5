// conv.cu — 2-D convolution (1-D runs as H = 1) as implicit GEMM on the dense kernel's tiling: the
// im2col matrix is never stored, each tile load computes which input element it needs.
//
//   conv_forward:          y  = act(im2col(x) · W + b)        rows N·OH·OW, cols F/groups, inner KH·KW·C/groups
//   conv_backward_data:    dx = gather of dz · Wᵀ            rows N·H·W,   cols C/groups, inner KH·KW·F/groups
//   conv_backward_weight:  dW = im2col(x)ᵀ · dz, db = Σ dz    rows KH·KW·C/groups, cols F/groups, inner N·OH·OW
//
// dz = dy ⊙ act'(z, y) is formed while loading (the activation is fused both ways, as in dense.cu).
// The data gradient gathers (no scatter, no atomics): input (ih, iw) receives from output
// oh = (ih + ph − kh·dh) / sh when that division is exact and in range. Deterministic.
//
// Layout, channels_last, row-major float32: x (N, H, W, C), W (KH, KW, C/groups, F), y, z, dy
// (N, OH, OW, F). Group g reads channels [g·C/groups, (g+1)·C/groups) and writes filters
// [g·F/groups, …): Keras's and JAX's grouping. Output (oh, ow) reads padded input oh·sh + kh·dh
// (ph zeros before the data). Launch: 256 threads, grid (row tiles, column tiles, groups).
// NumPy reference: gpunet/ops/convolution.py conv_forward, conv_backward_data, conv_backward_weight.
#include "gemm_tile.cuh"

struct ConvShape {
    int N, H, W, C, OH, OW, F, KH, KW, sh, sw, dh, dw, ph, pw, groups;
    __device__ int cg() const { return C / groups; }
    __device__ int fg() const { return F / groups; }
};

// im2col(x)(m, k) for group g: m = (n, oh, ow), k = (kh, kw, c)
struct Im2col {
    const float* x; ConvShape s; int c0;
    __device__ float operator()(int m, int k) const {
        const int cg = s.cg();
        int c = k % cg, t = k / cg, kw = t % s.KW, kh = t / s.KW;
        int ow = m % s.OW; t = m / s.OW;
        int oh = t % s.OH, n = t / s.OH;
        int ih = oh * s.sh - s.ph + kh * s.dh, iw = ow * s.sw - s.pw + kw * s.dw;
        if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) return 0.f;
        return x[(((long long)n * s.H + ih) * s.W + iw) * s.C + c0 + c];
    }
};
struct Im2colT {             // the transpose: (k, m)
    Im2col a;
    __device__ float operator()(int k, int m) const { return a(m, k); }
};
// the kernel matrix (KH·KW·C/groups × F) restricted to group g's filter columns
struct GroupW {
    const float* w; int F, f0;
    __device__ float operator()(int k, int f) const { return w[(long long)k * F + f0 + f]; }
};
// dz(m, f) = dy ⊙ act' at output row m, filter f0 + f
struct Dz {
    const float* dy; const float* y; const float* z; int F, f0, act;
    __device__ float operator()(int m, int f) const {
        long long i = (long long)m * F + f0 + f;
        float g = dy[i];
        if (act == ACT_LINEAR) return g;
        return g * act_grad(z ? z[i] : 0.f, y[i], act);
    }
};
// the data gradient's A operand: row r = input (n, ih, iw), k = (kh, kw, f)
struct DzGather {
    Dz dz; ConvShape s;
    __device__ float operator()(int r, int k) const {
        const int fg = s.fg();
        int f = k % fg, t = k / fg, kw = t % s.KW, kh = t / s.KW;
        int iw = r % s.W; t = r / s.W;
        int ih = t % s.H, n = t / s.H;
        int th = ih + s.ph - kh * s.dh, tw = iw + s.pw - kw * s.dw;
        if (th < 0 || tw < 0 || th % s.sh || tw % s.sw) return 0.f;
        int oh = th / s.sh, ow = tw / s.sw;
        if (oh >= s.OH || ow >= s.OW) return 0.f;
        return dz((int)(((long long)n * s.OH + oh) * s.OW + ow), f);
    }
};
// the data gradient's B operand: Wᵀ for group g, (k = (kh, kw, f), c)
struct WGatherT {
    const float* w; ConvShape s; int f0;
    __device__ float operator()(int k, int c) const {
        const int fg = s.fg();
        int f = k % fg, tap = k / fg;
        return w[((long long)tap * s.cg() + c) * s.F + f0 + f];
    }
};

#define CONV_SHAPE ConvShape{N, H, W, C, OH, OW, F, KH, KW, sh, sw, dil_h, dil_w, ph, pw, groups}

extern "C" __global__ void __launch_bounds__(THREADS)
conv_forward(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
             float* __restrict__ y, float* __restrict__ z, int N, int H, int W, int C, int OH, int OW, int F,
             int KH, int KW, int sh, int sw, int dil_h, int dil_w, int ph, int pw, int groups, int act,
             int has_bias, int store_z) {
    const ConvShape s = CONV_SHAPE;
    const int g = blockIdx.z, cg = s.cg(), fg = s.fg();
    const int M = N * OH * OW, inner = KH * KW * cg;
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    float acc[4][4] = {};
    gemm_tile<true>(M, fg, inner, Im2col{x, s, g * cg}, GroupW{w, F, g * fg}, row0, col0, acc);
    for_each_acc(M, fg, row0, col0, acc, [&](int r, int c, float v) {
        int n = g * fg + c;
        float pre = v + (has_bias ? b[n] : 0.f);
        long long idx = (long long)r * F + n;
        if (store_z) z[idx] = pre;
        y[idx] = act_forward(pre, act);
    });
}

extern "C" __global__ void __launch_bounds__(THREADS)
conv_backward_data(const float* __restrict__ dy, const float* __restrict__ y, const float* __restrict__ z,
                   const float* __restrict__ w, float* __restrict__ dx, int N, int H, int W, int C, int OH,
                   int OW, int F, int KH, int KW, int sh, int sw, int dil_h, int dil_w, int ph, int pw,
                   int groups, int act, int has_z) {
    const ConvShape s = CONV_SHAPE;
    const int g = blockIdx.z, cg = s.cg(), fg = s.fg();
    const int rows = N * H * W, inner = KH * KW * fg;
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    Dz dz{dy, y, has_z ? z : nullptr, F, g * fg, act};
    float acc[4][4] = {};
    gemm_tile<true, true>(rows, cg, inner, DzGather{dz, s}, WGatherT{w, s, g * fg}, row0, col0, acc);
    for_each_acc(rows, cg, row0, col0, acc, [&](int r, int c, float v) {
        dx[(long long)r * C + g * cg + c] = v;
    });
}

extern "C" __global__ void __launch_bounds__(THREADS)
conv_backward_weight(const float* __restrict__ x, const float* __restrict__ dy, const float* __restrict__ y,
                     const float* __restrict__ z, float* __restrict__ dw, float* __restrict__ db, int N, int H,
                     int W, int C, int OH, int OW, int F, int KH, int KW, int sh, int sw, int dil_h, int dil_w,
                     int ph, int pw, int groups, int act, int has_z, int has_db) {
    const ConvShape s = CONV_SHAPE;
    const int g = blockIdx.z, cg = s.cg(), fg = s.fg();
    const int M = N * OH * OW, rows = KH * KW * cg;
    const int row0 = blockIdx.x * BM, col0 = blockIdx.y * BN;
    Dz dz{dy, y, has_z ? z : nullptr, F, g * fg, act};
    float acc[4][4] = {};
    gemm_tile<false>(rows, fg, M, Im2colT{Im2col{x, s, g * cg}}, dz, row0, col0, acc);
    for_each_acc(rows, fg, row0, col0, acc, [&](int r, int c, float v) {
        dw[(long long)r * F + g * fg + c] = v;
    });
    if (has_db && blockIdx.x == 0) {
        // as dense.cu: 4 threads per column over interleaved rows, combined in a fixed order
        __shared__ float part[4][BN];
        int c = threadIdx.x % BN, q = threadIdx.x / BN, f = col0 + c;
        float sum = 0.f;
        if (f < fg)
            for (int m = q; m < M; m += 4) sum += dz(m, f);
        part[q][c] = sum;
        __syncthreads();
        if (q == 0 && f < fg) db[g * fg + f] = (part[0][c] + part[1][c]) + (part[2][c] + part[3][c]);
    }
}
