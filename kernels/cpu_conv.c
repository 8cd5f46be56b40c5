/* cpu_conv.c — the two memory-bound passes of CPU convnet inference that NumPy needs several passes
 * for, each one pass in C (single-threaded: the GEMMs between them keep OpenBLAS's threads busy).
 *
 *   bias_act          z = act(z + b) in place, act linear or relu (numpy.maximum(z, 0): NaN and -0.0 stay)
 *   max_pool_values   y = each window's maximum (padding reads -inf; a NaN propagates, as numpy.maximum)
 *
 * Layout channels_last, row-major float32; a 1-D pool runs as height 1. Window (oh, ow) reads input
 * (oh*sh - ph + kh, ow*sw - pw + kw). NumPy reference: gpunet/ops/convolution.py _bias_act and
 * gpunet/ops/pooling.py max_pool_values, whose results these equal bit for bit (same operations, -ffp-contract=off).
 * Built at first use by gpunet/cpu_kernels.py; without a C compiler the NumPy path runs. */
#include <math.h>

void bias_act(float *restrict z, const float *restrict b, long long rows, int F, int relu) {
    for (long long r = 0; r < rows; ++r) {
        float *restrict zr = z + r * F;
        for (int f = 0; f < F; ++f) {
            float v = b ? zr[f] + b[f] : zr[f];
            zr[f] = (relu && v < 0.0f) ? 0.0f : v;
        }
    }
}

void max_pool_values(const float *restrict x, float *restrict y, int N, int H, int W, int C, int OH, int OW,
                     int KH, int KW, int sh, int sw, int ph, int pw) {
    for (long long r = 0; r < (long long)N * OH; ++r) {
        int n = (int)(r / OH), oh = (int)(r % OH);
        for (int ow = 0; ow < OW; ++ow) {
            float *restrict yo = y + (r * OW + ow) * C;
            for (int t = 0; t < KH * KW; ++t) {
                int ih = oh * sh - ph + t / KW, iw = ow * sw - pw + t % KW;
                int inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
                const float *xi = x + (((long long)n * H + (inside ? ih : 0)) * W + (inside ? iw : 0)) * C;
                for (int c = 0; c < C; ++c) {
                    float v = inside ? xi[c] : -INFINITY;
                    float cur = t ? yo[c] : v;
                    yo[c] = (v > cur || v != v) ? v : cur;  /* branch-free select */
                }
            }
        }
    }
}
