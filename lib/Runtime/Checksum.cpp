//===- Checksum.cpp - CRC32C of saved model files -------------------------===//

#include "lib/Runtime/Checksum.h"

#include <cpuid.h>
#include <cstring>
#include <nmmintrin.h>

namespace {
/// The reflected Castagnoli polynomial's table, for CPUs without SSE4.2.
struct Table {
  uint32_t t[256];
  Table() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
  }
};

uint32_t software(uint32_t crc, const unsigned char *p, size_t n) {
  static const Table table;
  for (size_t i = 0; i < n; ++i)
    crc = table.t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

__attribute__((target("sse4.2"))) uint32_t hardware(uint32_t crc,
                                                    const unsigned char *p,
                                                    size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = uint32_t(c);
  while (n--)
    c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

bool hasSSE42() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && ((c >> 20) & 1u);
}
} // namespace

extern "C" uint32_t dqmlirCRC32C(uint32_t crc, const void *data, size_t size) {
  static const bool fast = hasSSE42();
  auto *p = static_cast<const unsigned char *>(data);
  crc = ~crc;
  crc = fast ? hardware(crc, p, size) : software(crc, p, size);
  return ~crc;
}
