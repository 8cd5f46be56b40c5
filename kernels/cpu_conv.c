/* cpu_conv.c — the memory-bound passes of a CPU convnet that NumPy needs several passes (or a strided
 * copy per element) for, each one pass in C (single-threaded: the GEMMs between them keep OpenBLAS's
 * threads busy). Selects are written branch-free; -fno-trapping-math lets GCC turn them into vector
 * blends (a branch per element on random signs cost 8x).
 *
 *   bias_act          z = act(z + b) in place, act linear or relu (numpy.maximum(z, 0): NaN and -0.0 stay)
 *   relu_grad         dz = g * (y > 0)
 *   conv_direct       y = act(conv(x, W) + b) for few input channels (a first layer on grey or RGB images),
 *                     whose im2col rows (9 floats for 3x3 grey) are too short for a GEMM to pay
 *   im2col            cols[(n, oh, ow), (kh, kw, c)] = x[n, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw, c], 0 outside
 *   col2im            its adjoint: dx = each row of dcols added back where im2col read it (the padding drops)
 *   max_pool_values   y = each window's maximum (padding reads -inf; a NaN propagates, as numpy.maximum)
 *   max_pool_forward  the same y and arg = the window tap of the first maximum (strictly greater replaces)
 *   max_pool_backward dx = each window's g added at its arg tap (a tap in the padding drops it)
 *
 * Layout channels_last, row-major float32; 1-D windows run as height 1. Window (oh, ow) reads input
 * (oh*sh - ph + kh*dh, ow*sw - pw + kw*dw) (pools: d = 1). NumPy references: gpunet/ops/convolution.py
 * _bias_act, _act_grad, im2col, col2im and gpunet/ops/pooling.py max_pool_values, max_pool_forward,
 * max_pool_backward, whose results these equal bit for bit (same operations in the same order,
 * -ffp-contract=off; tests/test_conv_layers.py test_cpu_conv_kernels_equal_the_array_code).
 * Built at first use by gpunet/cpu_kernels.py; without a C compiler the NumPy path runs. */
#include <math.h>
#include <string.h>

void bias_act(float *restrict z, const float *restrict b, long long rows, int F, int relu) {
    for (long long r = 0; r < rows; ++r) {
        float *restrict zr = z + r * F;
        for (int f = 0; f < F; ++f) {
            float v = b ? zr[f] + b[f] : zr[f];
            zr[f] = (relu && v < 0.0f) ? 0.0f : v;
        }
    }
}

void relu_grad(const float *restrict g, const float *restrict y, float *restrict dz, long long n) {
    for (long long i = 0; i < n; ++i)
        dz[i] = g[i] * (float)(y[i] > 0.0f);  /* a product, as the reference: g = NaN stays NaN */
}

/* GCC/Clang vector extensions: 8 floats, AVX's ymm where -march=native has it (SSE pairs otherwise). */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));  /* unaligned loads and stores */
typedef int v8i __attribute__((vector_size(32)));

/* Four output positions of one row (ow .. ow + 3, none reading the padding along the row) × filters
 * f0 .. f0 + 15: 8 accumulators in registers, four independent chains per weight load. */
static inline void direct_4x16(const float *restrict x, const float *restrict w, const float *restrict b,
                               float *restrict y, int F, int relu, int n, int oh, int ow, int f0, int H, int W, int C,
                               int KH, int KW, int sh, int sw, int dh, int dw, int ph, int pw) {
    v8 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
    long long s1 = (long long)sw * C;
    for (int kh = 0; kh < KH; ++kh) {
        int ih = oh * sh - ph + kh * dh;
        if (ih < 0 || ih >= H)
            continue;
        const float *xr = x + (((long long)n * H + ih) * W + (ow * sw - pw)) * C;
        for (int kw = 0; kw < KW; ++kw) {
            const float *xp = xr + (long long)kw * dw * C;
            const float *wp = w + ((long long)(kh * KW + kw) * C) * F + f0;
            for (int c = 0; c < C; ++c) {
                v8 w0 = *(const v8u *)(wp + (long long)c * F), w1 = *(const v8u *)(wp + (long long)c * F + 8);
                float x0 = xp[c], x1 = xp[s1 + c], x2 = xp[2 * s1 + c], x3 = xp[3 * s1 + c];
                a00 += x0 * w0, a01 += x0 * w1;
                a10 += x1 * w0, a11 += x1 * w1;
                a20 += x2 * w0, a21 += x2 * w1;
                a30 += x3 * w0, a31 += x3 * w1;
            }
        }
    }
    v8 acc[8] = {a00, a01, a10, a11, a20, a21, a30, a31};
    for (int i = 0; i < 8; ++i) {
        v8 z = acc[i];
        if (b)
            z += *(const v8u *)(b + f0 + 8 * (i & 1));
        if (relu)
            z = (v8)((v8i)z & ~(z < 0.0f));  /* zero where z < 0, as bias_act: NaN and -0.0 stay */
        *(v8u *)(y + (long long)(i >> 1) * F + f0 + 8 * (i & 1)) = z;
    }
}

/* One output position, filters f0 .. F - 1, any position (taps in the padding skipped). */
static void direct_1(const float *restrict x, const float *restrict w, const float *restrict b, float *restrict y,
                     int F, int relu, int n, int oh, int ow, int f0, int H, int W, int C, int KH, int KW, int sh, int sw,
                     int dh, int dw, int ph, int pw) {
    for (int f = f0; f < F; ++f) {
        float acc = 0.0f;
        for (int kh = 0; kh < KH; ++kh) {
            int ih = oh * sh - ph + kh * dh;
            if (ih < 0 || ih >= H)
                continue;
            for (int kw = 0; kw < KW; ++kw) {
                int iw = ow * sw - pw + kw * dw;
                if (iw < 0 || iw >= W)
                    continue;
                const float *xi = x + (((long long)n * H + ih) * W + iw) * C;
                for (int c = 0; c < C; ++c)
                    acc += xi[c] * w[((long long)(kh * KW + kw) * C + c) * F + f];
            }
        }
        float v = b ? acc + b[f] : acc;
        y[f] = (relu && v < 0.0f) ? 0.0f : v;
    }
}

void conv_direct(const float *restrict x, const float *restrict w, const float *restrict b, float *restrict y,
                 int F, int relu, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int sh, int sw,
                 int dh, int dw, int ph, int pw) {
    /* Each output: acc = 0, then acc += x * w over taps (kh, kw) and channels c in that order (products and
     * sums rounded one by one: -ffp-contract=off), taps in the padding skipped; then bias and act as
     * bias_act. NumPy reference: tests/test_conv_layers.py _conv_direct_reference. */
    int F16 = F - F % 16;
    for (long long r = 0; r < (long long)N * OH; ++r) {
        int n = (int)(r / OH), oh = (int)(r % OH);
        float *yr = y + r * OW * F;
        for (int ow = 0; ow < OW;) {
            int at = ow + 4 <= OW ? ow : OW - 4;  /* a row's last block overlaps the one before: same values */
            if (at < 0 || at * sw - pw < 0 || (at + 3) * sw - pw + (KW - 1) * dw >= W) {  /* reads the padding */
                direct_1(x, w, b, yr + (long long)ow * F, F, relu, n, oh, ow, 0, H, W, C, KH, KW, sh, sw, dh, dw, ph, pw);
                ++ow;
                continue;
            }
            ow = at;
            for (int f0 = 0; f0 < F16; f0 += 16)
                direct_4x16(x, w, b, yr + (long long)ow * F, F, relu, n, oh, ow, f0, H, W, C, KH, KW, sh, sw, dh, dw,
                            ph, pw);
            for (int p = 0; p < 4 && F16 < F; ++p)
                direct_1(x, w, b, yr + (long long)(ow + p) * F, F, relu, n, oh, ow + p, F16, H, W, C, KH, KW, sh, sw, dh,
                         dw, ph, pw);
            ow += 4;
        }
    }
}

void im2col(const float *restrict x, float *restrict cols, int N, int H, int W, int C, int OH, int OW,
            int KH, int KW, int sh, int sw, int dh, int dw, int ph, int pw) {
    long long K = (long long)KH * KW * C;
    for (long long r = 0; r < (long long)N * OH * OW; ++r) {
        int n = (int)(r / ((long long)OH * OW)), oh = (int)(r / OW % OH), ow = (int)(r % OW);
        float *restrict dst = cols + r * K;
        int iw0 = ow * sw - pw;
        for (int kh = 0; kh < KH; ++kh, dst += (long long)KW * C) {
            int ih = oh * sh - ph + kh * dh;
            if (ih < 0 || ih >= H) {
                memset(dst, 0, sizeof(float) * KW * C);
                continue;
            }
            const float *src = x + ((long long)n * H + ih) * W * C;
            if (dw == 1 && iw0 >= 0 && iw0 + KW <= W) {  /* the whole kernel row is one contiguous run */
                memcpy(dst, src + (long long)iw0 * C, sizeof(float) * KW * C);
                continue;
            }
            for (int kw = 0; kw < KW; ++kw) {
                int iw = iw0 + kw * dw;
                if (iw < 0 || iw >= W)
                    memset(dst + kw * C, 0, sizeof(float) * C);
                else
                    memcpy(dst + kw * C, src + (long long)iw * C, sizeof(float) * C);
            }
        }
    }
}

void col2im(const float *restrict dcols, float *restrict dx, int N, int H, int W, int C, int OH, int OW,
            int KH, int KW, int sh, int sw, int dh, int dw, int ph, int pw) {
    /* A gather: each input position sums, in tap order, the rows that read it — the reference's sums
     * in the reference's order (it adds one view per tap), each output written once. */
    long long K = (long long)KH * KW * C;
    for (int n = 0; n < N; ++n)
        for (int ih = 0; ih < H; ++ih)
            for (int iw = 0; iw < W; ++iw) {
                float *restrict d = dx + (((long long)n * H + ih) * W + iw) * C;
                for (int c = 0; c < C; ++c)
                    d[c] = 0.0f;
                for (int kh = 0; kh < KH; ++kh) {
                    int oh = ih + ph - kh * dh;
                    if (oh < 0 || oh % sh || (oh /= sh) >= OH)
                        continue;
                    for (int kw = 0; kw < KW; ++kw) {
                        int ow = iw + pw - kw * dw;
                        if (ow < 0 || ow % sw || (ow /= sw) >= OW)
                            continue;
                        const float *restrict src = dcols + (((long long)n * OH + oh) * OW + ow) * K
                                                    + ((long long)kh * KW + kw) * C;
                        for (int c = 0; c < C; ++c)
                            d[c] += src[c];
                    }
                }
            }
}

/* The window's maximum (and, when arg is given, the tap of its first maximum). Starting from -inf
 * and skipping the taps in the padding gives the reference's result: a padded tap reads -inf, which
 * neither replaces the maximum nor moves arg. Branch-free selects over the channels, which vectorise. */
static void max_pool(const float *restrict x, float *restrict y, signed char *restrict arg, int N, int H, int W,
                     int C, int OH, int OW, int KH, int KW, int sh, int sw, int ph, int pw) {
    for (long long r = 0; r < (long long)N * OH; ++r) {
        int n = (int)(r / OH), oh = (int)(r % OH);
        for (int ow = 0; ow < OW; ++ow) {
            float *restrict yo = y + (r * OW + ow) * C;
            signed char *restrict ao = arg ? arg + (r * OW + ow) * C : 0;
            for (int c = 0; c < C; ++c)
                yo[c] = -INFINITY;
            if (ao)
                memset(ao, 0, C);
            for (int t = 0; t < KH * KW; ++t) {
                int ih = oh * sh - ph + t / KW, iw = ow * sw - pw + t % KW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                    continue;
                const float *restrict xi = x + (((long long)n * H + ih) * W + iw) * C;
                if (ao)
                    for (int c = 0; c < C; ++c)
                        ao[c] = xi[c] > yo[c] ? (signed char)t : ao[c];
                for (int c = 0; c < C; ++c) {
                    float v = xi[c], cur = yo[c];
                    yo[c] = (v > cur || v != v) ? v : cur;  /* numpy.maximum: a NaN propagates */
                }
            }
        }
    }
}

void max_pool_values(const float *restrict x, float *restrict y, int N, int H, int W, int C, int OH, int OW,
                     int KH, int KW, int sh, int sw, int ph, int pw) {
    max_pool(x, y, 0, N, H, W, C, OH, OW, KH, KW, sh, sw, ph, pw);
}

void max_pool_forward(const float *restrict x, float *restrict y, signed char *restrict arg, int N, int H, int W,
                      int C, int OH, int OW, int KH, int KW, int sh, int sw, int ph, int pw) {
    max_pool(x, y, arg, N, H, W, C, OH, OW, KH, KW, sh, sw, ph, pw);
}

void max_pool_backward(const float *restrict g, const signed char *restrict arg, float *restrict dx, int N, int H,
                       int W, int C, int OH, int OW, int KH, int KW, int sh, int sw, int ph, int pw) {
    memset(dx, 0, sizeof(float) * N * H * W * C);
    /* Tap by tap, as the reference adds its per-tap views: an input that is the maximum of several
     * overlapping windows sums their gradients in the same order, so the results are equal bit for bit. */
    for (int t = 0; t < KH * KW; ++t) {
        int kh = t / KW, kw = t % KW;
        for (long long r = 0; r < (long long)N * OH; ++r) {
            int n = (int)(r / OH), ih = (int)(r % OH) * sh - ph + kh;
            if (ih < 0 || ih >= H)
                continue;
            for (int ow = 0; ow < OW; ++ow) {
                int iw = ow * sw - pw + kw;
                if (iw < 0 || iw >= W)
                    continue;
                const float *go = g + (r * OW + ow) * C;
                const signed char *ao = arg + (r * OW + ow) * C;
                float *restrict d = dx + (((long long)n * H + ih) * W + iw) * C;
                for (int c = 0; c < C; ++c)
                    d[c] += go[c] * (float)(ao[c] == t);  /* a product, as the reference: NaN stays */
            }
        }
    }
}
