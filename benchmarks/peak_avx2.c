// Per-core peak of the AVX2 int8 sequence that fbgemm and dqmlir's AVX2
// kernel run (vpmaddubsw u8 x s8 -> saturated s16 pairs, vpmaddwd with ones
// -> s32, vpaddd): 8 independent accumulator chains, each on its own pair
// of operands (2 activation x 4 weight registers, as in a register tile),
// best of 5. Build: cc -O2 -mavx2 peak_avx2.c -o peak_avx2
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define STEP(c, a, b) \
  c = _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones))

int main(void) {
  const long iters = 100000000L / 8;
  __m256i a0 = _mm256_set1_epi8(1), a1 = _mm256_set1_epi8(3);
  __m256i b0 = _mm256_set1_epi8(2), b1 = _mm256_set1_epi8(4), b2 = _mm256_set1_epi8(5),
          b3 = _mm256_set1_epi8(6), ones = _mm256_set1_epi16(1);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0,
          c6 = c0, c7 = c0;
  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    double t = now();
    for (long i = 0; i < iters; i++) {
      STEP(c0, a0, b0); STEP(c1, a0, b1); STEP(c2, a0, b2); STEP(c3, a0, b3);
      STEP(c4, a1, b0); STEP(c5, a1, b1); STEP(c6, a1, b2); STEP(c7, a1, b3);
      // The operands "change": no product is hoisted out of the loop.
      __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5),
                       "+x"(c6), "+x"(c7), "+x"(a0), "+x"(a1), "+x"(b0), "+x"(b1),
                       "+x"(b2), "+x"(b3));
    }
    t = now() - t;
    if (t < best) best = t;
  }
  double ops = (double)iters * 8 * 8 * 4 * 2;  // steps, lanes, MACs, ops/MAC
  __m256i s = _mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3));
  printf("%.1f\n", ops / best * 1e-9 + 0 * (_mm256_extract_epi32(s, 0) & 1));
  return 0;
}
