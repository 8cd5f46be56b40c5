// optim.cu — fused optimizer updates over one flat parameter buffer (all weights in one launch).
// Keras's rules (gpunet/optimizers.py holds the NumPy reference of each):
//   decoupled weight decay first:  p -= p · decay          (decay = weight_decay · lr, 0 = off)
//   adam_update:    m += (g − m)(1 − β1);  v += (g² − v)(1 − β2);  [amsgrad: v̂ = max(v̂, v)]
//                   p −= m·α / (√v + ε),   α = lr·√(1 − β2ᵗ)/(1 − β1ᵗ) computed on the host
//   sgd_update:     m = μm − lr·g;  p += m  (nesterov: p += μm − lr·g);  μ = 0: p −= lr·g
//   rmsprop_update: s = ρs + (1 − ρ)g²;  [centered: a = ρa + (1 − ρ)g, d = s − a² + ε, else d = s + ε]
//                   inc = lr·g/√d;  [momentum: m = μm + inc, p −= m]  else p −= inc
// Launch: one thread per element, 256 per block, grid ceil(n/256). Scalars are float32/int32.

extern "C" __global__ void adam_update(float* __restrict__ p, const float* __restrict__ g,
                                       float* __restrict__ m, float* __restrict__ v, float* __restrict__ vhat,
                                       int n, float alpha, float beta_1, float beta_2, float eps, float decay,
                                       int amsgrad) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float pi = p[i];
    if (decay != 0.f) pi -= pi * decay;
    float gi = g[i];
    float mi = m[i] + (gi - m[i]) * (1.f - beta_1);
    float vi = v[i] + (gi * gi - v[i]) * (1.f - beta_2);
    m[i] = mi;
    v[i] = vi;
    if (amsgrad) { vi = fmaxf(vhat[i], vi); vhat[i] = vi; }
    p[i] = pi - (mi * alpha) / (sqrtf(vi) + eps);
}

extern "C" __global__ void sgd_update(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                      int n, float lr, float momentum, int nesterov, float decay) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float pi = p[i];
    if (decay != 0.f) pi -= pi * decay;
    float gi = g[i];
    if (momentum == 0.f) { p[i] = pi - gi * lr; return; }
    float mi = m[i] * momentum - gi * lr;
    m[i] = mi;
    p[i] = nesterov ? pi + (mi * momentum - gi * lr) : pi + mi;
}

extern "C" __global__ void rmsprop_update(float* __restrict__ p, const float* __restrict__ g,
                                          float* __restrict__ vel, float* __restrict__ mom,
                                          float* __restrict__ avg, int n, float lr, float rho, float momentum,
                                          float eps, int centered, float decay) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float pi = p[i];
    if (decay != 0.f) pi -= pi * decay;
    float gi = g[i];
    float s = rho * vel[i] + (1.f - rho) * gi * gi;
    vel[i] = s;
    float d;
    if (centered) {
        float a = rho * avg[i] + (1.f - rho) * gi;
        avg[i] = a;
        d = s - a * a + eps;
    } else {
        d = s + eps;
    }
    float inc = lr * gi / sqrtf(d);
    if (momentum != 0.f) {
        float mi = momentum * mom[i] + inc;
        mom[i] = mi;
        p[i] = pi - mi;
    } else {
        p[i] = pi - inc;
    }
}
