//===- Checksum.h - CRC32C of saved model files -----------------*- C++ -*-===//
//
// CRC32C (Castagnoli), with SSE4.2's crc32 instruction where the CPU has it:
// a saved BERT-base's 180 MB of weights take ~20 ms. It detects truncated,
// corrupted or swapped files, not deliberate forgery.
//
//===----------------------------------------------------------------------===//
#ifndef DQMLIR_RUNTIME_CHECKSUM_H
#define DQMLIR_RUNTIME_CHECKSUM_H

#include <cstddef>
#include <cstdint>

extern "C" {
/// CRC32C of `size` bytes, continuing from `crc` (0 to start).
uint32_t dqmlirCRC32C(uint32_t crc, const void *data, size_t size);
}

#endif // DQMLIR_RUNTIME_CHECKSUM_H
