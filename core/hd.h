// hd.h: the __host__ __device__ marker for the few functions that the CUDA kernels, the CPU
// emulator and the references share (mask rule, GQA mapping, RNG). Not a general portability layer.
#pragma once

#if defined(__CUDACC__)
#define ATTN_HD __host__ __device__ __forceinline__
#else
#define ATTN_HD inline
#endif
