/* The fused recurrent cells for the CPU: one pass over a timestep's gates after its GEMM.
 *
 * Each function is one step of gpunet/ops/rnn.py's sequence op for B rows of H units, float32,
 * row-major, and computes what that file's NumPy reference cells compute (lstm_cell_forward/backward,
 * gru_cell_forward/backward, simple_cell_forward/backward); tests/test_rnn_kernels.py checks each
 * against them at odd sizes. The CUDA versions are kernels/rnn.cu.
 *
 *   lstm_fwd    gates (B, 4H) = x@W + b on entry (i, f, g, o), the activated gates on return;
 *               rec = h_prev@U; writes h, c and act(c).
 *   lstm_bwd    from dL/dh (dy + dhn) and dL/dc after the step: dz (B, 4H), dc before the step (in
 *               place), and the carry of dh past a masked step.
 *   gru_fwd     reset_after=True: xw (B, 3H) = x@W + b_in on entry, (z, r, hh) on return;
 *               rec = h_prev@U, brec added here; writes h and rh = rec[:, 2H:] + brec[2H:].
 *   gru_bwd     d(x@W + b_in) and d(h@U + b_rec), each (B, 3H), and the direct part of dh_prev.
 *   simple_fwd  zt (B, H) = x@W + b on entry, act(zt + rec) on return; writes h.
 *   simple_bwd  dz (B, H) and the carry.
 * m: one byte per row, 0 where the step is masked (the row keeps its states), or NULL.
 * Activation codes (ops/rnn.py ACTIVATIONS): 0 linear, 1 tanh, 2 sigmoid, 3 relu, 4 hard_sigmoid;
 * each derivative is written with the activation's output. */
#include <math.h>
#include <stddef.h>
#include <string.h>

/* exp, tanh and the sigmoid as branch-free float code the compiler vectorizes (libm's scalar calls
 * were 90% of a step): Cephes's expf and tanhf polynomials, within 2 ulp of libm on the ranges used. */
static inline float exp_v(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  /* NaN passes through, as in libm */
    float fx = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - fx * 0.693359375f + fx * 2.12194440e-4f;
    float y = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r
               + 1.6666665459e-1f) * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    int bits = ((int)fx + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

static inline float tanh_v(float x) {
    float ax = fabsf(x), z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z
                    + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * ax + ax;
    float big = 1.0f - 2.0f / (exp_v(2.0f * ax) + 1.0f);
    return copysignf(ax < 0.625f ? small : big, x);
}

static inline __attribute__((always_inline)) float act_f(float z, int code) {
    switch (code) {
    case 1: return tanh_v(z);
    case 2: return 1.0f / (1.0f + exp_v(-z));
    case 3: return z > 0.0f ? z : 0.0f;
    case 4: { float y = z / 6.0f + 0.5f; return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y); }
    default: return z;
    }
}

static inline __attribute__((always_inline)) float act_g(float y, int code) {
    switch (code) {
    case 1: return 1.0f - y * y;
    case 2: return y * (1.0f - y);
    case 3: return y > 0.0f ? 1.0f : 0.0f;
    case 4: return (y > 0.0f && y < 1.0f) ? 1.0f / 6.0f : 0.0f;
    default: return 1.0f;
    }
}

/* Each cell body is inlined twice: with Keras's default activations as constants (the switch folds away
 * and the loops vectorize) and with the codes as variables, for the others. */
#define DISPATCH(body, act, ract, ...) do { \
    if ((act) == 1 && (ract) == 2) body(__VA_ARGS__, 1, 2); else body(__VA_ARGS__, act, ract); } while (0)

static inline __attribute__((always_inline)) void
lstm_fwd_body(float *gates, const float *rec, const float *c_prev, const float *h_prev, float *h_out,
              float *c_out, float *ac_out, const unsigned char *m, int B, int H, int act, int ract) {
    for (int b = 0; b < B; b++) {
        float *g = gates + (size_t)b * 4 * H;
        const float *r = rec + (size_t)b * 4 * H;
        size_t o = (size_t)b * H;
        int keep = m ? m[b] : 1;
        for (int j = 0; j < 2 * H; j++) g[j] = act_f(g[j] + r[j], ract);
        for (int j = 2 * H; j < 3 * H; j++) g[j] = act_f(g[j] + r[j], act);
        for (int j = 3 * H; j < 4 * H; j++) g[j] = act_f(g[j] + r[j], ract);
        for (int j = 0; j < H; j++) {
            float c = g[H + j] * c_prev[o + j] + g[j] * g[2 * H + j];
            c_out[o + j] = keep ? c : c_prev[o + j];
            ac_out[o + j] = act_f(c, act);
        }
        for (int j = 0; j < H; j++) h_out[o + j] = keep ? g[3 * H + j] * ac_out[o + j] : h_prev[o + j];
    }
}

void lstm_fwd(float *gates, const float *rec, const float *c_prev, const float *h_prev, float *h_out,
              float *c_out, float *ac_out, const unsigned char *m, int B, int H, int act, int ract) {
    DISPATCH(lstm_fwd_body, act, ract, gates, rec, c_prev, h_prev, h_out, c_out, ac_out, m, B, H);
}

static inline __attribute__((always_inline)) void
lstm_bwd_body(const float *gates, const float *ac, const float *c_prev, const float *dy, const float *dhn,
              float *dc, float *dz, float *carry, const unsigned char *m, int B, int H, int act, int ract) {
    for (int b = 0; b < B; b++) {
        const float *g = gates + (size_t)b * 4 * H;
        float *d = dz + (size_t)b * 4 * H;
        size_t o = (size_t)b * H;
        if (m && !m[b]) {  /* a masked step passes both gradients through untouched */
            for (int j = 0; j < H; j++) carry[o + j] = dy[o + j] + dhn[o + j];
            for (int j = 0; j < 4 * H; j++) d[j] = 0.0f;
            continue;
        }
        for (int j = 0; j < H; j++) {
            float dh = dy[o + j] + dhn[o + j];
            float i_ = g[j], f_ = g[H + j], g_ = g[2 * H + j], o_ = g[3 * H + j], a = ac[o + j];
            float dcn = dc[o + j] + dh * o_ * act_g(a, act);
            d[j] = dcn * g_ * act_g(i_, ract);
            d[H + j] = dcn * c_prev[o + j] * act_g(f_, ract);
            d[2 * H + j] = dcn * i_ * act_g(g_, act);
            d[3 * H + j] = dh * a * act_g(o_, ract);
            dc[o + j] = dcn * f_;
            carry[o + j] = 0.0f;
        }
    }
}

void lstm_bwd(const float *gates, const float *ac, const float *c_prev, const float *dy, const float *dhn,
              float *dc, float *dz, float *carry, const unsigned char *m, int B, int H, int act, int ract) {
    DISPATCH(lstm_bwd_body, act, ract, gates, ac, c_prev, dy, dhn, dc, dz, carry, m, B, H);
}

static inline __attribute__((always_inline)) void
gru_fwd_body(float *xw, float *rec, const float *brec, const float *h_prev, float *h_out, float *rh_out,
             const unsigned char *m, int B, int H, int act, int ract) {
    for (int b = 0; b < B; b++) {
        float *x = xw + (size_t)b * 3 * H;
        float *r = rec + (size_t)b * 3 * H;
        size_t o = (size_t)b * H;
        int keep = m ? m[b] : 1;
        if (brec)
            for (int j = 0; j < 3 * H; j++) r[j] += brec[j];
        for (int j = 0; j < 2 * H; j++) x[j] = act_f(x[j] + r[j], ract);
        for (int j = 0; j < H; j++) {
            float rh = r[2 * H + j];
            float hh = act_f(x[2 * H + j] + x[H + j] * rh, act);
            x[2 * H + j] = hh;
            rh_out[o + j] = rh;
            float z = x[j], hp = h_prev[o + j];
            h_out[o + j] = keep ? z * hp + (1.0f - z) * hh : hp;
        }
    }
}

void gru_fwd(float *xw, float *rec, const float *brec, const float *h_prev, float *h_out, float *rh_out,
             const unsigned char *m, int B, int H, int act, int ract) {
    DISPATCH(gru_fwd_body, act, ract, xw, rec, brec, h_prev, h_out, rh_out, m, B, H);
}

static inline __attribute__((always_inline)) void
gru_bwd_body(const float *gates, const float *rh, const float *h_prev, const float *dy, const float *dhn,
             float *dxw, float *drec, float *carry, const unsigned char *m, int B, int H, int act, int ract) {
    for (int b = 0; b < B; b++) {
        const float *g = gates + (size_t)b * 3 * H;
        float *dx = dxw + (size_t)b * 3 * H, *dr = drec + (size_t)b * 3 * H;
        size_t o = (size_t)b * H;
        if (m && !m[b]) {
            for (int j = 0; j < H; j++) carry[o + j] = dy[o + j] + dhn[o + j];
            for (int j = 0; j < 3 * H; j++) dx[j] = dr[j] = 0.0f;
            continue;
        }
        for (int j = 0; j < H; j++) {
            float dh = dy[o + j] + dhn[o + j];
            float z = g[j], rg = g[H + j], hh = g[2 * H + j];
            float dzz = dh * (h_prev[o + j] - hh) * act_g(z, ract);
            float da = dh * (1.0f - z) * act_g(hh, act);
            float drr = da * rh[o + j] * act_g(rg, ract);
            dx[j] = dzz; dx[H + j] = drr; dx[2 * H + j] = da;
            dr[j] = dzz; dr[H + j] = drr; dr[2 * H + j] = da * rg;
            carry[o + j] = dh * z;
        }
    }
}

void gru_bwd(const float *gates, const float *rh, const float *h_prev, const float *dy, const float *dhn,
             float *dxw, float *drec, float *carry, const unsigned char *m, int B, int H, int act, int ract) {
    DISPATCH(gru_bwd_body, act, ract, gates, rh, h_prev, dy, dhn, dxw, drec, carry, m, B, H);
}

static inline __attribute__((always_inline)) void
simple_fwd_body(float *zt, const float *rec, const float *h_prev, float *h_out, const unsigned char *m,
                int B, int H, int act, int unused) {
    (void)unused;
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H;
        int keep = m ? m[b] : 1;
        for (int j = 0; j < H; j++) {
            float y = act_f(zt[o + j] + rec[o + j], act);
            zt[o + j] = y;
            h_out[o + j] = keep ? y : h_prev[o + j];
        }
    }
}

void simple_fwd(float *zt, const float *rec, const float *h_prev, float *h_out, const unsigned char *m,
                int B, int H, int act) {
    DISPATCH(simple_fwd_body, act, 2, zt, rec, h_prev, h_out, m, B, H);
}

static inline __attribute__((always_inline)) void
simple_bwd_body(const float *zt, const float *dy, const float *dhn, float *dz, float *carry,
                const unsigned char *m, int B, int H, int act, int unused) {
    (void)unused;
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H;
        int keep = m ? m[b] : 1;
        for (int j = 0; j < H; j++) {
            float dh = dy[o + j] + dhn[o + j];
            dz[o + j] = keep ? dh * act_g(zt[o + j], act) : 0.0f;
            carry[o + j] = keep ? 0.0f : dh;
        }
    }
}

void simple_bwd(const float *zt, const float *dy, const float *dhn, float *dz, float *carry,
                const unsigned char *m, int B, int H, int act) {
    DISPATCH(simple_bwd_body, act, 2, zt, dy, dhn, dz, carry, m, B, H);
}
