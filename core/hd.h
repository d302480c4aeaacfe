// hd.h: the __host__ __device__ marker for the functions that the CUDA kernels, the CPU emulator
// and the references share (mask rule, GQA mapping, RNG, core/pipeline/ stages), and the unroll
// hint their loops over register fragments need on the device. Not a general portability layer.
#pragma once

#if defined(__CUDACC__)
#define ATTN_HD __host__ __device__ __forceinline__
#define ATTN_UNROLL _Pragma("unroll")
#else
#define ATTN_HD inline
#define ATTN_UNROLL
#endif
