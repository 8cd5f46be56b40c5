// step.cu — the kernels that make a training step a static launch program (gpunet/models/gpu_step.py):
// nothing a step needs is passed by value, so the same launches can be captured once as a CUDA graph
// and replayed for every step of every epoch.
//
// The control block `ctl` (int32, set by the host once per epoch, outside the step):
//   ctl[0] t      index of the current step in the epoch (-1 before the first; step_begin advances it)
//   ctl[1] valid  rows of this step's batch that are real (batch, or fewer in the last step); the rest
//                 of the static batch buffers are zero and contribute nothing
//   ctl[2] key0, ctl[3] key1   the epoch's Philox key (bit patterns of two uint32)
// The scalar table `table` (float32, steps × K, uploaded once per epoch): one row per step; step_begin
// copies row t into `cur`, which the optimizer and loss kernels read through pointers (learning rate or
// Adam's step size, the decay term, 1 / valid rows). Any Python schedule works: the host evaluates it.
//
//   step_begin:       t += 1; valid = clamp(n − t·batch, 0, batch); cur = table[t]; iterations += count
//   gather_batch:     xb[r] = x[perm[t·batch + r]] (or x[t·batch + r] without perm) for r < valid, 0 after;
//                     the same rows of the targets (int32 labels or float32 rows) into yb
//   dropout_forward:  mask = (philox(e / 4, call, 0, 0; key)[e % 4] >> 8)·2⁻²⁴ < keep ? scale : 0,
//                     y = x · mask, for the valid rows (0 after); call = t·calls + j
//                     (gpunet/random.py philox_keep_mask is the NumPy reference and the CPU's own stream)
//   dropout_mask:     the same mask alone, for the tape path's Dropout inside fit
//   mask_multiply:    g *= mask (dropout's backward), in place
//   rows_out:         out[t·batch + r] = softmax(src[r]) or src[r], r < valid (predict's output, in place)
//
// Launch: step_begin one block of 32 threads; dropout_* one thread per 4 elements; the others one thread
// per element; 256 threads per block; grids from the static batch shape, so they never change.

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

struct U4 { unsigned x, y, z, w; };

__device__ __forceinline__ U4 philox4x32_10(U4 c, unsigned k0, unsigned k1) {
    for (int r = 0; r < 10; ++r) {
        unsigned long long p0 = (unsigned long long)PHILOX_M0 * c.x;
        unsigned long long p1 = (unsigned long long)PHILOX_M1 * c.z;
        U4 n;
        n.x = (unsigned)(p1 >> 32) ^ c.y ^ k0;
        n.y = (unsigned)p1;
        n.z = (unsigned)(p0 >> 32) ^ c.w ^ k1;
        n.w = (unsigned)p0;
        c = n;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return c;
}

__device__ __forceinline__ float philox_uniform(unsigned word) {
    return (float)(word >> 8) * 5.9604644775390625e-8f;  // exact: a 24-bit integer times 2^-24
}

extern "C" __global__ void step_begin(int* __restrict__ ctl, int* __restrict__ iterations,
                                      const float* __restrict__ table, float* __restrict__ cur, int K, int rows,
                                      int n, int batch, int count) {
    __shared__ int t_s;
    if (threadIdx.x == 0) {
        int t = ctl[0] + 1;
        ctl[0] = t;
        long long left = (long long)n - (long long)t * batch;
        int valid = left < 0 ? 0 : (left > batch ? batch : (int)left);
        if (t >= rows && K > 0) valid = 0;  // past the table: an idle step, never a read out of bounds
        ctl[1] = valid;
        if (count) iterations[0] += 1;
        t_s = t;
    }
    __syncthreads();
    int t = t_s;
    for (int j = threadIdx.x; j < K; j += blockDim.x) cur[j] = t < rows ? table[(long long)t * K + j] : 0.f;
}

extern "C" __global__ void gather_batch(const float* __restrict__ x, const int* __restrict__ perm,
                                        const int* __restrict__ ctl, float* __restrict__ xb, int F, int batch,
                                        int use_perm, const int* __restrict__ y_int, int* __restrict__ yb_int,
                                        const float* __restrict__ y_float, float* __restrict__ yb_float, int C,
                                        int sparse) {
    long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int t = ctl[0], valid = ctl[1];
    const long long first = (long long)t * batch;
    if (e < (long long)batch * F) {
        int r = (int)(e / F), f = (int)(e % F);
        if (r < valid) {
            long long src = use_perm ? perm[first + r] : first + r;
            xb[e] = x[src * F + f];
        } else {
            xb[e] = 0.f;
        }
    }
    long long ye = e;
    if (sparse) {
        if (ye < batch) {
            int r = (int)ye;
            yb_int[r] = r < valid ? y_int[use_perm ? perm[first + r] : first + r] : 0;
        }
    } else if (ye < (long long)batch * C) {
        int r = (int)(ye / C), c = (int)(ye % C);
        yb_float[ye] = r < valid ? y_float[(use_perm ? perm[first + r] : first + r) * (long long)C + c] : 0.f;
    }
}

// mask (and y = x · mask when x is given) for the first `size` elements; elements past it are zero
__device__ __forceinline__ void dropout_block(const float* x, float* y, float* mask, long long size,
                                              long long total, unsigned call, unsigned k0, unsigned k1,
                                              float keep, float scale) {
    long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long e0 = g * 4;
    if (e0 >= total) return;
    U4 c = {(unsigned)g, call, 0u, 0u};
    U4 w = philox4x32_10(c, k0, k1);
    unsigned words[4] = {w.x, w.y, w.z, w.w};
    for (int i = 0; i < 4; ++i) {
        long long e = e0 + i;
        if (e >= total) break;
        float m = (e < size && philox_uniform(words[i]) < keep) ? scale : 0.f;
        mask[e] = m;
        if (y) y[e] = e < size ? x[e] * m : 0.f;
    }
}

extern "C" __global__ void dropout_forward(const float* __restrict__ x, float* __restrict__ y,
                                           float* __restrict__ mask, const int* __restrict__ ctl, int F, int batch,
                                           int call_in_step, int calls_per_step, float keep, float scale) {
    const int t = ctl[0], valid = ctl[1];
    unsigned call = (unsigned)t * (unsigned)calls_per_step + (unsigned)call_in_step;
    dropout_block(x, y, mask, (long long)valid * F, (long long)batch * F, call, (unsigned)ctl[2],
                  (unsigned)ctl[3], keep, scale);
}

extern "C" __global__ void dropout_mask(float* __restrict__ mask, long long size, unsigned call, unsigned key0,
                                        unsigned key1, float keep, float scale) {
    dropout_block(nullptr, nullptr, mask, size, size, call, key0, key1, keep, scale);
}

extern "C" __global__ void mask_multiply(float* __restrict__ g, const float* __restrict__ mask, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) g[i] *= mask[i];
}

extern "C" __global__ void rows_out(const float* __restrict__ src, float* __restrict__ out, const int* __restrict__ ctl,
                                    int C, int batch, int softmax) {
    // one warp per row; rows at or past `valid` are not written (they lie past the end of the output)
    const long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;  // 64-bit: rows may pass 2^27
    const int lane = threadIdx.x % 32;
    if (row >= ctl[1]) return;
    const float* z = src + (long long)row * C;
    float* o = out + ((long long)ctl[0] * batch + row) * C;
    if (!softmax) {
        for (int c = lane; c < C; c += 32) o[c] = z[c];
        return;
    }
    float mx = __int_as_float(0xff800000);
    for (int c = lane; c < C; c += 32) mx = fmaxf(mx, z[c]);
    for (int o2 = 16; o2 > 0; o2 >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o2));
    float s = 0.f;
    for (int c = lane; c < C; c += 32) s += expf(z[c] - mx);
    for (int o2 = 16; o2 > 0; o2 >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o2);
    for (int c = lane; c < C; c += 32) o[c] = expf(z[c] - mx) / s;
}
