/* cpu_conv.c — the memory-bound passes of a CPU convnet that NumPy needs several passes (or a strided
 * copy per element) for, each one pass in C (single-threaded: the GEMMs between them keep OpenBLAS's
 * threads busy). Selects are written branch-free; -fno-trapping-math lets GCC turn them into vector
 * blends (a branch per element on random signs cost 8x).
 *
 *   bias_act          z = act(z + b) in place, act linear or relu (numpy.maximum(z, 0): NaN and -0.0 stay)
 *   relu_grad         dz = g * (y > 0)
 *   conv_direct       y = act(conv(x, W) + b) for few input channels (a first layer on grey or RGB images),
 *                     whose im2col rows (9 floats for 3x3 grey) are too short for a GEMM to pay
 *   conv_direct_max_pool2  the same followed by a 2x2 max pool (strides 2, 'valid'): values and argmax,
 *                     the conv's output never written
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

/* Four output positions (x + pos[0..3]) × filters f0 .. f0 + 15 (w already offset by f0): 8 accumulators in
 * registers, four independent chains per weight load. Taps come as a table (input offset, weight row)
 * built once per output row, so the loop is the same for every geometry; the sums run over the table's
 * taps in order and the channels inside, as the reference's. */
static inline void block_4x16(const float *restrict x, const long long pos[4], const float *restrict w,
                              const long long *restrict toff, const long long *restrict woff, int T, int C, int F,
                              v8 acc[8]) {
    v8 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
    const float *x0 = x + pos[0], *x1 = x + pos[1], *x2 = x + pos[2], *x3 = x + pos[3];
    for (int t = 0; t < T; ++t) {
        const float *wp = w + woff[t];
        long long o = toff[t];
        for (int c = 0; c < C; ++c) {
            v8 w0 = *(const v8u *)(wp + (long long)c * F), w1 = *(const v8u *)(wp + (long long)c * F + 8);
            float e0 = x0[o + c], e1 = x1[o + c], e2 = x2[o + c], e3 = x3[o + c];
            a00 += e0 * w0, a01 += e0 * w1;
            a10 += e1 * w0, a11 += e1 * w1;
            a20 += e2 * w0, a21 += e2 * w1;
            a30 += e3 * w0, a31 += e3 * w1;
        }
    }
    acc[0] = a00, acc[1] = a01, acc[2] = a10, acc[3] = a11, acc[4] = a20, acc[5] = a21, acc[6] = a30, acc[7] = a31;
}

/* z + b, then relu, as bias_act: zero where z < 0, NaN and -0.0 stay */
static inline v8 bias_act8(v8 z, const float *b, int relu) {
    if (b)
        z += *(const v8u *)b;
    if (relu)
        z = (v8)((v8i)z & ~(z < 0.0f));
    return z;
}

/* The taps of output row oh that read inside the input's rows (padding rows are skipped, as the
 * reference adds nothing for them): T taps, as offsets into the sample (input column 0 of the tap's row,
 * plus its column offset) and into the weights. */
static int row_taps(long long *toff, long long *woff, int oh, int H, int W, int C, int F, int KH, int KW, int sh,
                    int dh, int dw, int ph) {
    int T = 0;
    for (int kh = 0; kh < KH; ++kh) {
        int ih = oh * sh - ph + kh * dh;
        if (ih < 0 || ih >= H)
            continue;
        for (int kw = 0; kw < KW; ++kw, ++T) {
            toff[T] = ((long long)ih * W + (long long)kw * dw) * C;
            woff[T] = (long long)(kh * KW + kw) * C * F;
        }
    }
    return T;
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

/* Whether output column ow's taps all read inside the input's columns. */
static inline int col_inside(int ow, int W, int KW, int sw, int dw, int pw) {
    return ow * sw - pw >= 0 && ow * sw - pw + (KW - 1) * dw < W;
}

void conv_direct(const float *restrict x, const float *restrict w, const float *restrict b, float *restrict y,
                 int F, int relu, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int sh, int sw,
                 int dh, int dw, int ph, int pw) {
    /* Each output: acc = 0, then acc += x * w over taps (kh, kw) and channels c in that order (products and
     * sums rounded one by one: -ffp-contract=off), taps in the padding skipped; then bias and act as
     * bias_act. NumPy reference: tests/test_conv_layers.py _conv_direct_reference. */
    int F16 = F - F % 16;
    long long toff[KH * KW], woff[KH * KW];
    long long step = (long long)sw * C, pos[4] = {0, step, 2 * step, 3 * step};
    for (long long r = 0; r < (long long)N * OH; ++r) {
        int n = (int)(r / OH), oh = (int)(r % OH);
        int T = row_taps(toff, woff, oh, H, W, C, F, KH, KW, sh, dh, dw, ph);
        const float *xn = x + (long long)n * H * W * C;
        float *yr = y + r * OW * F;
        for (int ow = 0; ow < OW;) {
            int at = ow + 4 <= OW ? ow : OW - 4;  /* a row's last block overlaps the one before: same values */
            if (at < 0 || !col_inside(at, W, KW, sw, dw, pw) || !col_inside(at + 3, W, KW, sw, dw, pw)) {
                direct_1(x, w, b, yr + (long long)ow * F, F, relu, n, oh, ow, 0, H, W, C, KH, KW, sh, sw, dh, dw, ph, pw);
                ++ow;
                continue;
            }
            ow = at;
            const float *xb = xn + (long long)(ow * sw - pw) * C;
            for (int f0 = 0; f0 < F16; f0 += 16) {
                v8 acc[8];
                block_4x16(xb, pos, w + f0, toff, woff, T, C, F, acc);
                for (int i = 0; i < 8; ++i)
                    *(v8u *)(yr + (long long)(ow + (i >> 1)) * F + f0 + 8 * (i & 1)) =
                        bias_act8(acc[i], b ? b + f0 + 8 * (i & 1) : 0, relu);
            }
            for (int p = 0; p < 4 && F16 < F; ++p)
                direct_1(x, w, b, yr + (long long)(ow + p) * F, F, relu, n, oh, ow + p, F16, H, W, C, KH, KW, sh, sw, dh,
                         dw, ph, pw);
            ow += 4;
        }
    }
}

/* conv_direct followed by a 2x2 max pool of strides 2 and 'valid' padding, without writing the conv's
 * output: each pool window's four positions are one block_4x16, bias and act applied to each and the
 * maximum taken in registers — window taps (0,0), (0,1), (1,0), (1,1) in that order, as max_pool: y
 * the maximum (a NaN propagates), arg (when given) the tap of the first maximum. The same values as
 * conv_direct then max_pool_forward, bit for bit. F a multiple of 16; PH = OH / 2, PW = OW / 2. */
void conv_direct_max_pool2(const float *restrict x, const float *restrict w, const float *restrict b,
                           float *restrict y, signed char *restrict arg, int F, int relu, int N, int H, int W, int C,
                           int OH, int OW, int KH, int KW, int sh, int sw, int dh, int dw, int ph, int pw) {
    int PH = OH / 2, PW = OW / 2;
    long long toff[KH * KW], woff[KH * KW];
    float tmp[4 * F];
    long long rowstep = (long long)sh * W * C, step = (long long)sw * C;
    long long pos[4] = {0, step, rowstep, rowstep + step};
    for (long long r = 0; r < (long long)N * PH; ++r) {
        int n = (int)(r / PH), oh = 2 * (int)(r % PH);
        /* both conv rows inside the input's rows: one tap table serves the two */
        int rows_in = oh * sh - ph >= 0 && (oh + 1) * sh - ph + (KH - 1) * dh < H;
        int T = rows_in ? row_taps(toff, woff, oh, H, W, C, F, KH, KW, sh, dh, dw, ph) : 0;
        const float *xn = x + (long long)n * H * W * C;
        for (int pc = 0; pc < PW; ++pc) {
            int ow = 2 * pc;
            float *yo = y + (r * PW + pc) * F;
            signed char *ao = arg ? arg + (r * PW + pc) * F : 0;
            if (rows_in && col_inside(ow, W, KW, sw, dw, pw) && col_inside(ow + 1, W, KW, sw, dw, pw)) {
                const float *xb = xn + (long long)(ow * sw - pw) * C;
                for (int f0 = 0; f0 < F; f0 += 16) {
                    v8 acc[8];
                    block_4x16(xb, pos, w + f0, toff, woff, T, C, F, acc);
                    for (int h = 0; h < 2; ++h) {  /* the two 8-filter halves */
                        const float *bh = b ? b + f0 + 8 * h : 0;
                        v8 m = bias_act8(acc[h], bh, relu);
                        v8i a = {0};
                        for (int t = 1; t < 4; ++t) {
                            v8 v = bias_act8(acc[2 * t + h], bh, relu);
                            v8i gt = v > m;
                            a = (gt & t) | (~gt & a);
                            m = (v8)(((v8i)v & (gt | (v != v))) | ((v8i)m & ~(gt | (v != v))));
                        }
                        *(v8u *)(yo + f0 + 8 * h) = m;
                        if (ao)
                            for (int i = 0; i < 8; ++i)
                                ao[f0 + 8 * h + i] = (signed char)a[i];
                    }
                }
                continue;
            }
            /* a window reading the padding: its four positions one by one, then the pool as max_pool */
            for (int t = 0; t < 4; ++t)
                direct_1(x, w, b, tmp + (long long)t * F, F, relu, n, oh + t / 2, ow + t % 2, 0, H, W, C, KH, KW, sh,
                         sw, dh, dw, ph, pw);
            for (int f = 0; f < F; ++f) {
                float m = -INFINITY;
                signed char a = 0;
                for (int t = 0; t < 4; ++t) {
                    float v = tmp[t * F + f];
                    a = v > m ? (signed char)t : a;
                    m = (v > m || v != v) ? v : m;
                }
                yo[f] = m;
                if (ao)
                    ao[f] = a;
            }
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
