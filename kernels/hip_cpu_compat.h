// hip_cpu_compat.h — lets the HIP CPU Runtime compile our plain-CUDA kernels/*.cu unchanged, for the
// emulated test tier (gpunet/emulated.py includes it before a kernel file; NVRTC never sees it).
//
// HIP-CPU has HIP's intrinsics, not CUDA's; two of ours are named differently there:
//   __shfl_xor_sync(mask, v, o)  ->  __shfl_xor(v, o, 32). HIP-CPU's warpSize is 64; the explicit width
//                                    keeps CUDA's 32-lane butterflies. The mask is ignored: HIP-CPU
//                                    shuffles synchronise the whole block, a superset of the mask.
//   __int_as_float(i)            ->  a bit copy (memcpy), as CUDA defines it.
//   __float_as_int(f)            ->  a bit copy (memcpy), as CUDA defines it.
//   __fmul_rn(a, b), __fadd_rn(a, b) -> a * b, a + b: each rounded on its own (the tier compiles with
//                                    -ffp-contract=off, so no multiply-add is fused anyway).
//   __syncwarp(mask)             ->  nothing. A warp's lanes are fibers that switch only at barriers and
//                                    shuffles, and every __syncwarp of ours (head.cu) is followed by a shuffle
//                                    before any lane reads what another lane wrote.
// Anything else missing here is a compile error in the tier, never a silent difference.
#pragma once

#include <hip/hip_runtime.h>

#include <cstring>

template <class T>
__device__ inline T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask, int width = 32) {
    return __shfl_xor(v, lane_mask, width);
}

__device__ inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, sizeof f);
    return f;
}

__device__ inline int __float_as_int(float f) {
    int i;
    std::memcpy(&i, &f, sizeof i);
    return i;
}

__device__ inline void __syncwarp(unsigned /*mask*/ = 0xffffffffu) {}

__device__ inline float __fmul_rn(float a, float b) { return a * b; }

__device__ inline float __fadd_rn(float a, float b) { return a + b; }
