// optim.cu — fused optimizer updates over one flat parameter buffer (all weights in one launch).
// Keras's rules (NumPy reference: the array-op `update` of each optimizer in gpunet/optimizers/rules.py):
//   decoupled weight decay first:  p -= p · decay          (decay = weight_decay · lr, 0 = off)
//   adam_update:    m += (g − m)(1 − β1);  v += (g² − v)(1 − β2);  [amsgrad: v̂ = max(v̂, v)]
//                   p −= m·α / (√v + ε),   α = lr·√(1 − β2ᵗ)/(1 − β1ᵗ) computed on the host
//   sgd_update:     m = μm − lr·g;  p += m  (nesterov: p += μm − lr·g);  μ = 0: p −= lr·g
//   rmsprop_update: s = ρs + (1 − ρ)g²;  [centered: a = ρa + (1 − ρ)g, d = s − a² + ε, else d = s + ε]
//                   inc = lr·g/√d;  [momentum: m = μm + inc, p −= m]  else p −= inc
// 1 − β and 1 − ρ come from the host as float32(1 − β), as the NumPy path forms them (1.f − β on the
// device differs in the last bits), and each expression keeps the NumPy path's order of operations, so
// without contraction (the emulated tier) the result is bit-identical to it.
// Launch: one thread per element, 256 per block, grid ceil(n/256). Scalars are float32/int32.
// Each rule is one __device__ function with two entry points: `<rule>_update` takes the per-step scalars
// by value (the eager path), `<rule>_update_ctl` reads them through a pointer, cur[0] = the learning rate
// (Adam: its step size α) and cur[1] = the decay term, which step_begin (step.cu) refreshes inside a
// captured step; cur[5] = 0 skips the update (a step that only accumulates gradients). The constants of
// the rule (β, ρ, μ, ε) do not change during a fit and stay by value.

__device__ __forceinline__ void adam_element(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                             float* __restrict__ v, float* __restrict__ vhat, int n, float alpha,
                                             float one_minus_b1, float one_minus_b2, float eps, float decay,
                                             int amsgrad) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;  // 64-bit: n may pass 2^31 - 256
    if (i >= n) return;
    float pi = p[i];
    if (decay != 0.f) pi -= pi * decay;
    float gi = g[i];
    float mi = m[i] + (gi - m[i]) * one_minus_b1;
    float vi = v[i] + (gi * gi - v[i]) * one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    if (amsgrad) { vi = fmaxf(vhat[i], vi); vhat[i] = vi; }
    p[i] = pi - (mi * alpha) / (sqrtf(vi) + eps);
}

extern "C" __global__ void adam_update(float* __restrict__ p, const float* __restrict__ g,
                                       float* __restrict__ m, float* __restrict__ v, float* __restrict__ vhat,
                                       int n, float alpha, float one_minus_b1, float one_minus_b2, float eps,
                                       float decay, int amsgrad) {
    adam_element(p, g, m, v, vhat, n, alpha, one_minus_b1, one_minus_b2, eps, decay, amsgrad);
}

extern "C" __global__ void adam_update_ctl(float* __restrict__ p, const float* __restrict__ g,
                                           float* __restrict__ m, float* __restrict__ v, float* __restrict__ vhat,
                                           int n, const float* __restrict__ cur, float one_minus_b1,
                                           float one_minus_b2, float eps, int amsgrad) {
    if (cur[5] == 0.f) return;
    adam_element(p, g, m, v, vhat, n, cur[0], one_minus_b1, one_minus_b2, eps, cur[1], amsgrad);
}

__device__ __forceinline__ void sgd_element(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                            int n, float lr, float momentum, int nesterov, float decay) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;  // 64-bit: n may pass 2^31 - 256
    if (i >= n) return;
    float pi = p[i];
    if (decay != 0.f) pi -= pi * decay;
    float gi = g[i];
    if (momentum == 0.f) { p[i] = pi - gi * lr; return; }
    float mi = m[i] * momentum - gi * lr;
    m[i] = mi;
    p[i] = nesterov ? pi + (mi * momentum - gi * lr) : pi + mi;
}

extern "C" __global__ void sgd_update(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                      int n, float lr, float momentum, int nesterov, float decay) {
    sgd_element(p, g, m, n, lr, momentum, nesterov, decay);
}

extern "C" __global__ void sgd_update_ctl(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                          int n, const float* __restrict__ cur, float momentum, int nesterov) {
    if (cur[5] == 0.f) return;
    sgd_element(p, g, m, n, cur[0], momentum, nesterov, cur[1]);
}

__device__ __forceinline__ void rmsprop_element(float* __restrict__ p, const float* __restrict__ g,
                                                float* __restrict__ vel, float* __restrict__ mom,
                                                float* __restrict__ avg, int n, float lr, float rho,
                                                float one_minus_rho, float momentum, float eps, int centered,
                                                float decay) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;  // 64-bit: n may pass 2^31 - 256
    if (i >= n) return;
    float pi = p[i];
    if (decay != 0.f) pi -= pi * decay;
    float gi = g[i];
    float s = vel[i] * rho + (gi * gi) * one_minus_rho;
    vel[i] = s;
    float d;
    if (centered) {
        float a = avg[i] * rho + gi * one_minus_rho;
        avg[i] = a;
        d = (s - a * a) + eps;
    } else {
        d = s + eps;
    }
    float inc = (gi * lr) / sqrtf(d);
    if (momentum != 0.f) {
        float mi = mom[i] * momentum + inc;
        mom[i] = mi;
        p[i] = pi - mi;
    } else {
        p[i] = pi - inc;
    }
}

extern "C" __global__ void rmsprop_update(float* __restrict__ p, const float* __restrict__ g,
                                          float* __restrict__ vel, float* __restrict__ mom,
                                          float* __restrict__ avg, int n, float lr, float rho, float one_minus_rho,
                                          float momentum, float eps, int centered, float decay) {
    rmsprop_element(p, g, vel, mom, avg, n, lr, rho, one_minus_rho, momentum, eps, centered, decay);
}

extern "C" __global__ void rmsprop_update_ctl(float* __restrict__ p, const float* __restrict__ g,
                                              float* __restrict__ vel, float* __restrict__ mom,
                                              float* __restrict__ avg, int n, const float* __restrict__ cur,
                                              float rho, float one_minus_rho, float momentum, float eps,
                                              int centered) {
    if (cur[5] == 0.f) return;
    rmsprop_element(p, g, vel, mom, avg, n, cur[0], rho, one_minus_rho, momentum, eps, centered, cur[1]);
}

// ---- gradient clipping, on the device (no host read of a norm: a captured step can clip) ----
//   grad_sumsq:  sums[s] = Σ g² over segment s = [bounds[2s], bounds[2s+1]) (one variable each);
//                one block of 256 per segment, a fixed-order tree: deterministic
//   grad_clip:   mode 1 (clipnorm):        norm = √sums[s];  g *= c / max(norm, c) where norm > c
//                mode 2 (global_clipnorm): norm = √Σ_s sums[s] (summed in segment order);
//                                          g *= c · min(1/norm, 1/c)   (NaN norm: NaN, as Keras)
//                mode 3 (clipvalue):       g = clamp(g, −c, c)        (NaN stays NaN, as numpy.clip)
//                grid (ceil(longest segment / 256), segments); c by value: it is constant for a fit.
// NumPy reference: Optimizer._clip_in_place in gpunet/optimizers/base.py.

extern "C" __global__ void __launch_bounds__(256)
grad_sumsq(const float* __restrict__ g, const long long* __restrict__ bounds, float* __restrict__ sums, int nseg) {
    __shared__ float part[256];
    const int s = blockIdx.x;
    if (s >= nseg) return;
    float a = 0.f;
    for (long long i = bounds[2 * s] + threadIdx.x; i < bounds[2 * s + 1]; i += blockDim.x) a += g[i] * g[i];
    part[threadIdx.x] = a;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) sums[s] = part[0];
}

extern "C" __global__ void grad_clip(float* __restrict__ g, const long long* __restrict__ bounds,
                                     const float* __restrict__ sums, int nseg, int mode, float c) {
    const int s = blockIdx.y;
    const long long i = bounds[2 * s] + (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= bounds[2 * s + 1]) return;
    float gi = g[i];
    if (mode == 3) {
        g[i] = gi < -c ? -c : (gi > c ? c : gi);
        return;
    }
    float scale;
    if (mode == 1) {
        float norm = sqrtf(sums[s]);
        if (!(norm > c)) return;
        scale = c / fmaxf(norm, c);
    } else {
        float total = 0.f;
        for (int k = 0; k < nseg; ++k) total += sums[k];
        float inv = 1.f / sqrtf(total), inv_c = 1.f / c;
        scale = c * (inv_c < inv ? inv_c : inv);
    }
    g[i] = gi * scale;
}

// ---- the rest of Optimizer._step, reading per-step scalars through `cur` (a step program) ----
//   grad_unscale:    g /= c                              (loss_scale_factor: Keras unscales the gradients)
//   grad_accumulate_ctl: where cur[5] != 0 (an update step) g = (g + acc) / steps, acc = 0; else acc += g
//                    (gradient_accumulation_steps; on other steps the update kernels return at once)
//   ema_update_ctl:  ema = ema·m + p·(1 − m), m = cur[3] (0 at the first update, as Keras);
//                    where cur[4] != 0 (every ema_overwrite_frequency updates) p = ema
// NumPy reference: Optimizer._step and _update_moving_average in gpunet/optimizers/base.py.

extern "C" __global__ void grad_unscale(float* __restrict__ g, long long n, float c) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) g[i] = g[i] / c;
}

extern "C" __global__ void ema_update_ctl(float* __restrict__ p, float* __restrict__ ema, long long n,
                                          const float* __restrict__ cur) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float m = cur[3];
    float e = ema[i] * m + p[i] * (1.f - m);
    ema[i] = e;
    if (cur[4] != 0.f) p[i] = e;
}

extern "C" __global__ void grad_accumulate_ctl(float* __restrict__ g, float* __restrict__ acc, long long n, float steps,
                                               const float* __restrict__ cur) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (cur[5] != 0.f) {
        g[i] = (g[i] + acc[i]) / steps;
        acc[i] = 0.f;
    } else {
        acc[i] += g[i];
    }
}
