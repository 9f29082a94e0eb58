// Per-core peak of AMX-INT8 tdpbusd (u8 x s8 -> s32, 16x16 += 16x64 . 64x16),
// the counterpart of peak.c for the tile unit: 4 independent accumulator
// tiles, operand tiles loaded once (no memory traffic), best of 5. Prints
// nothing and exits 1 where the CPU or the kernel does not allow AMX.
// Build: cc -O2 -mamx-tile -mamx-int8 peak_amx.c -o peak_amx
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct tile_config {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

int main(void) {
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA))
    return 1;
  struct tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
  static int8_t ones[16 * 64] __attribute__((aligned(64)));
  static int32_t out[16 * 16] __attribute__((aligned(64)));
  memset(ones, 1, sizeof ones);
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  const long iters = 2000000L;
  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    double t = now();
    for (long i = 0; i < iters; i++) {
      _tile_dpbusd(0, 4, 5); _tile_dpbusd(1, 4, 5);
      _tile_dpbusd(2, 4, 5); _tile_dpbusd(3, 4, 5);
    }
    _tile_stored(0, out, 64);  // waits for the last tdpbusd
    t = now() - t;
    if (t < best) best = t;
  }
  _tile_release();
  double ops = (double)iters * 4 * 16 * 16 * 64 * 2;  // instrs, MACs, ops/MAC
  printf("%.1f\n", ops / best * 1e-9 + 0 * (out[0] & 1));
  return 0;
}
