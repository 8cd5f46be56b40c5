// rnn.cu — the fused recurrent cells: one timestep's gate arithmetic after its GEMM.
//
// Cells: one thread per (row b, unit j) of a (B, H) step, float32, row-major; each computes what
// gpunet/ops/rnn.py's NumPy reference cells compute (and kernels/cpu_rnn.c on the CPU):
//   lstm_cell_forward   gates (B, 4H) = x@W + b in (i, f, g, o), activated out; rec = h_prev@U;
//                       writes h, c and act(c). m: one byte per row, 0 = masked (states kept), read
//                       only when has_mask (else any 1-byte buffer).
//   lstm_cell_backward  dz (B, 4H), dc before the step (in place), the carry of dh past a masked step.
//   gru_cell_forward    reset_after=True: xw (B, 3H) = x@W + b_in in, (z, r, hh) out; rec = h_prev@U,
//                       brec (3H) added here when has_brec; writes h and rh = rec[:, 2H:] + brec[2H:].
//   gru_cell_backward   d(x@W + b_in) and d(h@U + b_rec) (B, 3H), and the direct part of dh_prev.
//   simple_cell_forward zt (B, H) = x@W + b in, act(zt + rec) out; writes h.
//   simple_cell_backward dz (B, H) and the carry.
// Activation codes (ops/rnn.py ACTIVATIONS): 0 linear, 1 tanh, 2 sigmoid, 3 relu, 4 hard_sigmoid; the
// derivatives are written with the activation's output. Launch: grid ceil(B·H / 256), 256 threads.

__device__ __forceinline__ float rnn_act(float z, int code) {
    switch (code) {
    case 1: return tanhf(z);
    case 2: return 1.f / (1.f + expf(-z));
    case 3: return z > 0.f ? z : 0.f;
    case 4: { float y = z / 6.f + 0.5f; return y < 0.f ? 0.f : (y > 1.f ? 1.f : y); }
    default: return z;
    }
}

__device__ __forceinline__ float rnn_grad(float y, int code) {
    switch (code) {
    case 1: return 1.f - y * y;
    case 2: return y * (1.f - y);
    case 3: return y > 0.f ? 1.f : 0.f;
    case 4: return (y > 0.f && y < 1.f) ? 1.f / 6.f : 0.f;
    default: return 1.f;
    }
}

extern "C" __global__ void __launch_bounds__(256)
lstm_cell_forward(float* __restrict__ gates, const float* __restrict__ rec, const float* __restrict__ c_prev,
                  const float* __restrict__ h_prev, float* __restrict__ h_out, float* __restrict__ c_out,
                  float* __restrict__ ac_out, const unsigned char* __restrict__ m, int has_mask, int B, int H, int act, int ract) {
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)B * H) return;
    int b = (int)(e / H), j = (int)(e % H);
    float* g = gates + (long long)b * 4 * H;
    const float* r = rec + (long long)b * 4 * H;
    float i_ = rnn_act(g[j] + r[j], ract);
    float f_ = rnn_act(g[H + j] + r[H + j], ract);
    float g_ = rnn_act(g[2 * H + j] + r[2 * H + j], act);
    float o_ = rnn_act(g[3 * H + j] + r[3 * H + j], ract);
    g[j] = i_; g[H + j] = f_; g[2 * H + j] = g_; g[3 * H + j] = o_;
    float c = f_ * c_prev[e] + i_ * g_;
    float ac = rnn_act(c, act);
    ac_out[e] = ac;
    bool keep = !has_mask || m[b];
    c_out[e] = keep ? c : c_prev[e];
    h_out[e] = keep ? o_ * ac : h_prev[e];
}

extern "C" __global__ void __launch_bounds__(256)
lstm_cell_backward(const float* __restrict__ gates, const float* __restrict__ ac, const float* __restrict__ c_prev,
                   const float* __restrict__ dy, const float* __restrict__ dhn, float* __restrict__ dc,
                   float* __restrict__ dz, float* __restrict__ carry, const unsigned char* __restrict__ m,
                   int has_mask, int B, int H, int act, int ract) {
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)B * H) return;
    int b = (int)(e / H), j = (int)(e % H);
    const float* g = gates + (long long)b * 4 * H;
    float* d = dz + (long long)b * 4 * H;
    float dh = dy[e] + dhn[e];
    if (has_mask && !m[b]) {  // a masked step passes both gradients through untouched
        carry[e] = dh;
        d[j] = 0.f; d[H + j] = 0.f; d[2 * H + j] = 0.f; d[3 * H + j] = 0.f;
        return;
    }
    float i_ = g[j], f_ = g[H + j], g_ = g[2 * H + j], o_ = g[3 * H + j], a = ac[e];
    float dcn = dc[e] + dh * o_ * rnn_grad(a, act);
    d[j] = dcn * g_ * rnn_grad(i_, ract);
    d[H + j] = dcn * c_prev[e] * rnn_grad(f_, ract);
    d[2 * H + j] = dcn * i_ * rnn_grad(g_, act);
    d[3 * H + j] = dh * a * rnn_grad(o_, ract);
    dc[e] = dcn * f_;
    carry[e] = 0.f;
}

extern "C" __global__ void __launch_bounds__(256)
gru_cell_forward(float* __restrict__ xw, const float* __restrict__ rec, const float* __restrict__ brec,
                 int has_brec, const float* __restrict__ h_prev, float* __restrict__ h_out, float* __restrict__ rh_out,
                 const unsigned char* __restrict__ m, int has_mask, int B, int H, int act, int ract) {
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)B * H) return;
    int b = (int)(e / H), j = (int)(e % H);
    float* x = xw + (long long)b * 3 * H;
    const float* r = rec + (long long)b * 3 * H;
    float rz = r[j], rr = r[H + j], rh = r[2 * H + j];
    if (has_brec) { rz += brec[j]; rr += brec[H + j]; rh += brec[2 * H + j]; }
    float z = rnn_act(x[j] + rz, ract);
    float rg = rnn_act(x[H + j] + rr, ract);
    float hh = rnn_act(x[2 * H + j] + rg * rh, act);
    x[j] = z; x[H + j] = rg; x[2 * H + j] = hh;
    rh_out[e] = rh;
    float hp = h_prev[e];
    h_out[e] = (!has_mask || m[b]) ? z * hp + (1.f - z) * hh : hp;
}

extern "C" __global__ void __launch_bounds__(256)
gru_cell_backward(const float* __restrict__ gates, const float* __restrict__ rh, const float* __restrict__ h_prev,
                  const float* __restrict__ dy, const float* __restrict__ dhn, float* __restrict__ dxw,
                  float* __restrict__ drec, float* __restrict__ carry, const unsigned char* __restrict__ m,
                  int has_mask, int B, int H, int act, int ract) {
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)B * H) return;
    int b = (int)(e / H), j = (int)(e % H);
    const float* g = gates + (long long)b * 3 * H;
    float* dx = dxw + (long long)b * 3 * H;
    float* dr = drec + (long long)b * 3 * H;
    float dh = dy[e] + dhn[e];
    if (has_mask && !m[b]) {
        carry[e] = dh;
        dx[j] = 0.f; dx[H + j] = 0.f; dx[2 * H + j] = 0.f;
        dr[j] = 0.f; dr[H + j] = 0.f; dr[2 * H + j] = 0.f;
        return;
    }
    float z = g[j], rg = g[H + j], hh = g[2 * H + j];
    float dzz = dh * (h_prev[e] - hh) * rnn_grad(z, ract);
    float da = dh * (1.f - z) * rnn_grad(hh, act);
    float drr = da * rh[e] * rnn_grad(rg, ract);
    dx[j] = dzz; dx[H + j] = drr; dx[2 * H + j] = da;
    dr[j] = dzz; dr[H + j] = drr; dr[2 * H + j] = da * rg;
    carry[e] = dh * z;
}

extern "C" __global__ void __launch_bounds__(256)
simple_cell_forward(float* __restrict__ zt, const float* __restrict__ rec, const float* __restrict__ h_prev,
                    float* __restrict__ h_out, const unsigned char* __restrict__ m, int has_mask, int B, int H, int act) {
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)B * H) return;
    float y = rnn_act(zt[e] + rec[e], act);
    zt[e] = y;
    h_out[e] = (!has_mask || m[e / H]) ? y : h_prev[e];
}

extern "C" __global__ void __launch_bounds__(256)
simple_cell_backward(const float* __restrict__ zt, const float* __restrict__ dy, const float* __restrict__ dhn,
                     float* __restrict__ dz, float* __restrict__ carry, const unsigned char* __restrict__ m,
                     int has_mask, int B, int H, int act) {
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (long long)B * H) return;
    float dh = dy[e] + dhn[e];
    bool keep = !has_mask || m[e / H];
    dz[e] = keep ? dh * rnn_grad(zt[e], act) : 0.f;
    carry[e] = keep ? 0.f : dh;
}
