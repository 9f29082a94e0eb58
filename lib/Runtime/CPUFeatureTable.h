//===- CPUFeatureTable.h - CPU features by cpuid bit -------------*- C++ -*-===//
//
// The x86 features (LLVM's names) the runtime can check with cpuid before
// it loads code (CPUFeatures.cpp). The compiler lists a target's features
// from this table too (lib/Target/ModelLibrary), so every feature a saved
// model requires is one the runtime can verify.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_RUNTIME_CPUFEATURETABLE_H
#define DQMLIR_RUNTIME_CPUFEATURETABLE_H

namespace dqmlir::runtime {

struct Bit {
  const char *name;
  unsigned leaf, subleaf;
  char reg; // 'a', 'b', 'c', 'd'
  unsigned bit;
};

// LLVM feature names of the x86-64 levels and the extensions dqmlir targets.
inline constexpr Bit kFeatureBits[] = {
    {"cmov", 1, 0, 'd', 15},       {"cx8", 1, 0, 'd', 8},
    {"fxsr", 1, 0, 'd', 24},       {"mmx", 1, 0, 'd', 23},
    {"sse", 1, 0, 'd', 25},        {"sse2", 1, 0, 'd', 26},
    {"sse3", 1, 0, 'c', 0},        {"pclmul", 1, 0, 'c', 1},
    {"ssse3", 1, 0, 'c', 9},       {"fma", 1, 0, 'c', 12},
    {"cx16", 1, 0, 'c', 13},       {"sse4.1", 1, 0, 'c', 19},
    {"sse4.2", 1, 0, 'c', 20},     {"movbe", 1, 0, 'c', 22},
    {"popcnt", 1, 0, 'c', 23},     {"aes", 1, 0, 'c', 25},
    {"xsave", 1, 0, 'c', 26},      {"avx", 1, 0, 'c', 28},
    {"f16c", 1, 0, 'c', 29},       {"rdrnd", 1, 0, 'c', 30},
    {"fsgsbase", 7, 0, 'b', 0},    {"bmi", 7, 0, 'b', 3},
    {"avx2", 7, 0, 'b', 5},        {"bmi2", 7, 0, 'b', 8},
    {"avx512f", 7, 0, 'b', 16},    {"avx512dq", 7, 0, 'b', 17},
    {"rdseed", 7, 0, 'b', 18},     {"adx", 7, 0, 'b', 19},
    {"avx512ifma", 7, 0, 'b', 21}, {"clflushopt", 7, 0, 'b', 23},
    {"clwb", 7, 0, 'b', 24},       {"avx512cd", 7, 0, 'b', 28},
    {"sha", 7, 0, 'b', 29},        {"avx512bw", 7, 0, 'b', 30},
    {"avx512vl", 7, 0, 'b', 31},   {"avx512vbmi", 7, 0, 'c', 1},
    {"avx512vbmi2", 7, 0, 'c', 6}, {"gfni", 7, 0, 'c', 8},
    {"vaes", 7, 0, 'c', 9},        {"vpclmulqdq", 7, 0, 'c', 10},
    {"avx512vnni", 7, 0, 'c', 11}, {"avx512bitalg", 7, 0, 'c', 12},
    {"avx512vpopcntdq", 7, 0, 'c', 14},
    {"avx512vp2intersect", 7, 0, 'd', 8},
    {"amx-bf16", 7, 0, 'd', 22},   {"avx512fp16", 7, 0, 'd', 23},
    {"amx-tile", 7, 0, 'd', 24},   {"amx-int8", 7, 0, 'd', 25},
    {"avxvnni", 7, 1, 'a', 4},     {"avx512bf16", 7, 1, 'a', 5},
    {"lzcnt", 0x80000001, 0, 'c', 5}, {"prfchw", 0x80000001, 0, 'c', 8},
    {"sahf", 0x80000001, 0, 'c', 0},
};

} // namespace dqmlir::runtime

#endif // DQMLIR_RUNTIME_CPUFEATURETABLE_H
