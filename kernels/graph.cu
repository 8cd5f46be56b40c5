// graph.cu — the elementwise glue between the layers of a node program (gpunet/training/graph_program.py): what
// a Functional graph needs besides the layers' own kernels. Nothing here takes a per-step value by value, so the
// launches are captured once in the step's CUDA graph.
//
//   act_forward:     y = act(x)                          (an Activation layer that cannot fold into a GEMM epilogue)
//   act_backward:    dx = g · act'(x, y)                 (act' from the input (gelu) or the output (the others))
//   add2:            y = a + b                           (Add, and the sum of two gradients reaching one tensor)
//   add_into:        y += a                              (a third and later gradient, an Add of more inputs)
//   multiply_out:    y = g · m                           (dropout's backward when g is shared with another branch)
//   moving_update:   v = v·momentum + s·(1 − momentum)   (BatchNormalization's moving mean and variance, on the
//                    device: each product rounded on its own, as the NumPy layer computes it)
//
// Launch: one thread per element, 256 threads per block, 1-D grid; n as long long (buffers may pass 2^31).
// NumPy reference: tests/test_graph_program.py (the kernels' row there) and gpunet/layers/normalization.py.
#include "gemm_tile.cuh"

#define EW_THREADS 256

__device__ __forceinline__ long long ew_index() { return (long long)blockIdx.x * EW_THREADS + threadIdx.x; }

extern "C" __global__ void __launch_bounds__(EW_THREADS)
act_forward_ew(const float* __restrict__ x, float* __restrict__ y, long long n, int act) {
    long long i = ew_index();
    if (i < n) y[i] = act_forward(x[i], act);
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
act_backward_ew(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ y,
                float* __restrict__ dx, long long n, int act) {
    long long i = ew_index();
    if (i < n) dx[i] = g[i] * act_grad(x[i], y[i], act);
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
add2(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y, long long n) {
    long long i = ew_index();
    if (i < n) y[i] = a[i] + b[i];
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
add_into(float* __restrict__ y, const float* __restrict__ a, long long n) {
    long long i = ew_index();
    if (i < n) y[i] += a[i];
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
multiply_out(const float* __restrict__ g, const float* __restrict__ m, float* __restrict__ y, long long n) {
    long long i = ew_index();
    if (i < n) y[i] = g[i] * m[i];
}

extern "C" __global__ void __launch_bounds__(EW_THREADS)
moving_update(float* __restrict__ v, const float* __restrict__ s, long long n, float momentum, float rest) {
    long long i = ew_index();
    if (i < n) v[i] = __fadd_rn(__fmul_rn(v[i], momentum), __fmul_rn(s[i], rest));
}
