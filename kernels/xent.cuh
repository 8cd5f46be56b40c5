// xent.cuh — one row of softmax cross-entropy by one warp, and the fixed-order block sums: shared by
// softmax_xent.cu and head.cu (the fused head), so both compute the same numbers the same way.
#pragma once

#define WARP 32
#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// max with the lowest index on ties, across the warp
__device__ __forceinline__ void warp_argmax(float& v, int& i) {
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
    }
}

struct XentRow { float loss, mx, s, ok, tsum; };

// The forward of one row z (C logits) by one warp. Every lane takes part in every shuffle whatever the row
// (HIP-CPU's shuffles synchronise the whole block, so no warp may skip one); a padding row (!valid) gives
// loss 0, max 0, Σ exp 1, correct 0, Σ targets 1, and only a valid row's label can raise `bad`.
// lab: the row's label (sparse); t: its C targets (dense). Each lane reads z[c] for its own c, and z[lab].
__device__ __forceinline__ XentRow xent_row(const float* z, int lab, const float* t, int lane, int C, int sparse,
                                            float smoothing, bool valid, int* bad) {
    float mx = NEG_INF; int amx = 0x7fffffff;
    for (int c = lane; c < C; c += WARP)
        if (z[c] > mx) { mx = z[c]; amx = c; }
    warp_argmax(mx, amx);
    const float off = smoothing / C;
    float s = 0.f, smooth = 0.f;  // smooth = Σ off·(m − z_c), each term bounded
    for (int c = lane; c < C; c += WARP) {
        s += expf(z[c] - mx);
        if (smoothing != 0.f) smooth += off * (mx - z[c]);
    }
    s = warp_sum(s);
    smooth = warp_sum(smooth);
    const float logs = logf(s);
    float l, ok, tsum;
    if (sparse) {
        if (lab < 0 || lab >= C) {
            if (lane == 0 && valid) atomicOr(bad, 1);  // a flag, not a training reduction
            l = __int_as_float(0x7fc00000); ok = 0.f; tsum = 1.f;
        } else {
            l = (1.f - smoothing) * ((mx - z[lab]) + logs);
            if (smoothing != 0.f) l += smooth + smoothing * logs;  // Σ off·((m − z_c) + log s)
            ok = (amx == lab) ? 1.f : 0.f;
            tsum = 1.f;
        }
    } else {
        float acc = 0.f, ts = 0.f, tmax = NEG_INF; int targ = 0x7fffffff;
        for (int c = lane; c < C; c += WARP) {
            float tc = t[c] * (1.f - smoothing) + off;
            acc += tc * ((mx - z[c]) + logs);
            ts += tc;
            if (t[c] > tmax) { tmax = t[c]; targ = c; }
        }
        l = warp_sum(acc);
        tsum = warp_sum(ts);
        warp_argmax(tmax, targ);
        ok = (amx == targ) ? 1.f : 0.f;
    }
    if (!valid) return XentRow{0.f, 0.f, 1.f, 0.f, 1.f};
    return XentRow{l, mx, s, ok, tsum};
}

// lane 0 stores a row's results where softmax_xent_forward keeps them (the backward reads max, Σ exp, Σ targets)
__device__ __forceinline__ void xent_store(const XentRow& x, long long row, int lane, float* loss, float* max_out,
                                           float* sum_out, float* correct, float* tsum_out) {
    if (lane != 0) return;
    loss[row] = x.loss;
    max_out[row] = x.mx;
    sum_out[row] = x.s;
    correct[row] = x.ok;
    tsum_out[row] = x.tsum;
}

// d loss / d z_c of a valid row, scaled by g: softmax · Σ targets − target
__device__ __forceinline__ float xent_grad(float zc, int c, float mx, float s, float tsum, int lab, const float* t,
                                           int C, int sparse, float smoothing, float g) {
    float p = expf(zc - mx) / s;
    float tc = smoothing / C;
    if (sparse) tc += (lab == c) ? (1.f - smoothing) : 0.f;
    else tc += t[c] * (1.f - smoothing);
    return (p * tsum - tc) * g;
}

// Σ loss and Σ correct over R rows by one block of 256 threads, in a fixed order (deterministic)
__device__ __forceinline__ void block_sum2(const float* loss, const float* correct, int R, float* a_out, float* b_out) {
    __shared__ float sl[256], sc[256];
    float a = 0.f, b = 0.f;
    for (int i = threadIdx.x; i < R; i += blockDim.x) { a += loss[i]; b += correct[i]; }
    sl[threadIdx.x] = a; sc[threadIdx.x] = b;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) { sl[threadIdx.x] += sl[threadIdx.x + s]; sc[threadIdx.x] += sc[threadIdx.x + s]; }
        __syncthreads();
    }
    *a_out = sl[0];
    *b_out = sc[0];
}

