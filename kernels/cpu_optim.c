/* cpu_optim.c — the optimizer updates of gpunet/optimizers.py in one pass over the flat buffers,
 * for the CPU. NumPy reference: the array-op `update` of each optimizer (Keras's state layout, so
 * saved optimizer state is exactly Keras's). The operations and their order are
 * the NumPy path's, and gpunet compiles this with -ffp-contract=off, so results are bit-identical
 * to it; one pass instead of a dozen is what makes it faster.
 * Built at first use by gpunet/cpu_kernels.py with the system C compiler; without one, the NumPy
 * path runs. Scalars are float32 like the arrays. */
#include <math.h>
#include <stddef.h>

void adam_update(float *p, const float *g, float *m, float *v, float *vhat, long n, float one_minus_b1,
                 float one_minus_b2, float eps, float alpha, float decay, int amsgrad) {
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
}

void sgd_update(float *p, const float *g, float *m, long n, float lr, float momentum, int nesterov,
                float decay) {
    for (long i = 0; i < n; ++i) {
        float pi = p[i];
        if (decay != 0.0f) pi = pi - pi * decay;
        float step = g[i] * lr;
        if (momentum == 0.0f) { p[i] = pi - step; continue; }
        float mi = m[i] * momentum - step;
        m[i] = mi;
        p[i] = nesterov ? pi + (mi * momentum - step) : pi + mi;
    }
}

void rmsprop_update(float *p, const float *g, float *vel, float *mom, float *avg, long n, float lr, float rho,
                    float one_minus_rho, float momentum, float eps, int centered, float decay) {
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
}
