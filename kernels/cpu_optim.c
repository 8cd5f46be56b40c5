/* cpu_optim.c — the optimizer updates of gpunet/optimizers.py in one pass over the flat buffers,
 * for the CPU; and fit's dropout masks (philox_dropout_mask, below). NumPy reference: the array-op `update` of each optimizer (Keras's state layout, so
 * saved optimizer state is exactly Keras's). The operations and their order are
 * the NumPy path's, and gpunet compiles this with -ffp-contract=off, so results are bit-identical
 * to it; one pass instead of a dozen is what makes it faster.
 * Built at first use by gpunet/cpu_kernels.py with the system C compiler; without one, the NumPy
 * path runs. Scalars are float32 like the arrays.
 *
 * Subnormal floats are flushed to zero during an update (FTZ and DAZ, restored on return), as TensorFlow and
 * XLA (Keras on JAX) do on the CPU and gpunet's CUDA kernels (-ftz=true) do. Adam's first moment of a unit whose gradient has become 0
 * (a dead relu) decays by beta_1 every step through the subnormal range, where each x86 operation on it takes
 * ~100 cycles: with most units dead the update took 12x as long (1.5 ms against 0.12 ms per step of the
 * 784-128-10 MLP). The results equal the array ops' bit for bit wherever no value is subnormal. */
#include <math.h>
#include <stddef.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
typedef unsigned int fp_mode;
static fp_mode flush_begin(void) { fp_mode old = _mm_getcsr(); _mm_setcsr(old | 0x8040u); return old; }  /* FTZ|DAZ */
static void flush_end(fp_mode old) { _mm_setcsr(old); }
#elif defined(__aarch64__)
typedef unsigned long fp_mode;
static fp_mode flush_begin(void) {
    fp_mode old; __asm__ __volatile__("mrs %0, fpcr" : "=r"(old));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old | (1ul << 24)));  /* FZ */
    return old;
}
static void flush_end(fp_mode old) { __asm__ __volatile__("msr fpcr, %0" : : "r"(old)); }
#else
typedef int fp_mode;
static fp_mode flush_begin(void) { return 0; }
static void flush_end(fp_mode old) { (void)old; }
#endif

void adam_update(float *p, const float *g, float *m, float *v, float *vhat, long n, float one_minus_b1,
                 float one_minus_b2, float eps, float alpha, float decay, int amsgrad) {
    fp_mode mode = flush_begin();
    for (long i = 0; i < n; ++i) {
        float pi = p[i];
        if (decay != 0.0f) pi = pi - pi * decay;
        float gi = g[i];
        float mi = m[i] + (gi - m[i]) * one_minus_b1;
        float vi = v[i] + (gi * gi - v[i]) * one_minus_b2;
        m[i] = mi;
        v[i] = vi;
        if (amsgrad) { vi = vhat[i] > vi ? vhat[i] : vi; vhat[i] = vi; }
        p[i] = pi - (mi * alpha) / (sqrtf(vi) + eps);
    }
    flush_end(mode);
}

void sgd_update(float *p, const float *g, float *m, long n, float lr, float momentum, int nesterov,
                float decay) {
    fp_mode mode = flush_begin();
    for (long i = 0; i < n; ++i) {
        float pi = p[i];
        if (decay != 0.0f) pi = pi - pi * decay;
        float step = g[i] * lr;
        if (momentum == 0.0f) { p[i] = pi - step; continue; }
        float mi = m[i] * momentum - step;
        m[i] = mi;
        p[i] = nesterov ? pi + (mi * momentum - step) : pi + mi;
    }
    flush_end(mode);
}

void rmsprop_update(float *p, const float *g, float *vel, float *mom, float *avg, long n, float lr, float rho,
                    float one_minus_rho, float momentum, float eps, int centered, float decay) {
    fp_mode mode = flush_begin();
    for (long i = 0; i < n; ++i) {
        float pi = p[i];
        if (decay != 0.0f) pi = pi - pi * decay;
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
        if (momentum != 0.0f) {
            float mi = mom[i] * momentum + inc;
            mom[i] = mi;
            p[i] = pi - mi;
        } else {
            p[i] = pi - inc;
        }
    }
    flush_end(mode);
}

/* philox_dropout_mask: fit's dropout mask, element i of call `call` under key (k0, k1): word i % 4 of
 * Philox-4x32-10 at counter (i / 4, call, 0, 0); kept (scale) when its top 24 bits times 2^-24 are
 * below keep, else 0. The same stream as gpunet/random.py philox_keep_mask (the NumPy reference) and
 * kernels/step.cu (the GPU); ten times faster than the NumPy version, which matters at every step. */
#include <stdint.h>

void philox_dropout_mask(float *mask, long n, uint32_t call, uint32_t k0, uint32_t k1, float keep, float scale) {
    for (long g = 0; g * 4 < n; ++g) {
        uint32_t c0 = (uint32_t)g, c1 = call, c2 = 0, c3 = 0, a = k0, b = k1;
        for (int r = 0; r < 10; ++r) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ a, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ b;
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
            a += 0x9E3779B9u;
            b += 0xBB67AE85u;
        }
        uint32_t w[4] = {c0, c1, c2, c3};
        for (int i = 0; i < 4 && g * 4 + i < n; ++i)
            mask[g * 4 + i] = (float)(w[i] >> 8) * 5.9604644775390625e-8f < keep ? scale : 0.0f;
    }
}
