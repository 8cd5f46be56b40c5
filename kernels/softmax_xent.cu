// softmax_xent.cu — fused softmax + cross-entropy from logits, forward and backward.
//
//   softmax_xent_forward:  per row r of logits (R×C): m = max z, s = Σ exp(z − m),
//                          loss[r] = Σ_c t_c ((m − z_c) + log s)  with t = (1-ls)·onehot + ls/C,
//                          correct[r] = (argmax z == label), tsum[r] = Σ_c t_c; m and s are kept
//                          for the backward. A label outside [0, C) sets *bad = 1 and gives loss NaN
//                          (never silent).
//   xent_row_sums:         out[0] = Σ loss, out[1] = Σ correct   (one block, fixed order: deterministic)
//   xent_accumulate:       acc[0] += Σ loss, acc[1] += Σ correct (float64 running sums that stay on the
//                          device across the steps of an epoch; the same fixed-order block sum)
//   softmax_xent_backward: dlogits = (exp(z − m)/s · tsum − t) · g[r · g_stride]  (g_stride 0: one scalar)
//
// Rows at or past *nvalid are padding (the static batch of a captured step whose last batch is short):
// the forward gives them loss 0 and correct 0, the backward a zero gradient. Eager calls pass INT_MAX.
//
// Sparse labels: int32 (R); dense targets: float32 (R×C), selected by `sparse`.
// Launch: forward one warp per row, 256 threads per block (8 rows), grid ceil(R/8);
//         backward one thread per element, grid ceil(R·C/256); row sums one block of 256.
// Stable for logits anywhere in float range: every term is formed from (m − z_c), never from
// m + log s (which loses log s next to a huge m) or C·m (which overflows); the label-smoothing sum
// is scaled term by term, and skipped when ls = 0 (0·inf would be NaN).
// NumPy reference: gpunet/ops/fused.py xent_numpy().

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

extern "C" __global__ void softmax_xent_forward(
    const float* __restrict__ logits, const int* __restrict__ labels, const float* __restrict__ targets,
    float* __restrict__ loss, float* __restrict__ max_out, float* __restrict__ sum_out,
    float* __restrict__ correct, float* __restrict__ tsum_out, int* __restrict__ bad, const int* __restrict__ nvalid,
    int R, int C, int sparse, float smoothing) {
    const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / WARP;  // 64-bit: R may pass 2^27
    const int lane = threadIdx.x % WARP;
    if (row >= R) return;
    if (row >= *nvalid) {
        if (lane == 0) { loss[row] = 0.f; max_out[row] = 0.f; sum_out[row] = 1.f; correct[row] = 0.f; tsum_out[row] = 1.f; }
        return;
    }
    const float* z = logits + (long long)row * C;
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
        int lab = labels[row];
        if (lab < 0 || lab >= C) {
            if (lane == 0) atomicOr(bad, 1);  // a flag, not a training reduction
            l = __int_as_float(0x7fc00000); ok = 0.f; tsum = 1.f;
        } else {
            l = (1.f - smoothing) * ((mx - z[lab]) + logs);
            if (smoothing != 0.f) l += smooth + smoothing * logs;  // Σ off·((m − z_c) + log s)
            ok = (amx == lab) ? 1.f : 0.f;
            tsum = 1.f;
        }
    } else {
        const float* t = targets + (long long)row * C;
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
    if (lane == 0) {
        loss[row] = l;
        max_out[row] = mx;
        sum_out[row] = s;
        correct[row] = ok;
        tsum_out[row] = tsum;
    }
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

extern "C" __global__ void __launch_bounds__(256)
xent_row_sums(const float* __restrict__ loss, const float* __restrict__ correct, float* __restrict__ out, int R) {
    float a, b;
    block_sum2(loss, correct, R, &a, &b);
    if (threadIdx.x == 0) { out[0] = a; out[1] = b; }
}

extern "C" __global__ void __launch_bounds__(256)
xent_accumulate(const float* __restrict__ loss, const float* __restrict__ correct, double* __restrict__ acc, int R) {
    float a, b;
    block_sum2(loss, correct, R, &a, &b);
    if (threadIdx.x == 0) { acc[0] += (double)a; acc[1] += (double)b; }
}

extern "C" __global__ void softmax_xent_backward(
    const float* __restrict__ logits, const int* __restrict__ labels, const float* __restrict__ targets,
    const float* __restrict__ row_max, const float* __restrict__ row_sum, const float* __restrict__ tsum,
    const float* __restrict__ g, int g_stride, const int* __restrict__ nvalid, float* __restrict__ dlogits, int R,
    int C, int sparse, float smoothing) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)R * C) return;
    int r = (int)(idx / C), c = (int)(idx % C);
    if (r >= *nvalid) { dlogits[idx] = 0.f; return; }
    float p = expf(logits[idx] - row_max[r]) / row_sum[r];
    float t = smoothing / C;
    if (sparse) t += (labels[r] == c) ? (1.f - smoothing) : 0.f;
    else t += targets[idx] * (1.f - smoothing);
    dlogits[idx] = (p * tsum[r] - t) * g[(long long)r * g_stride];
}
