/*===- dq-run.c - run a saved dqmlir model on .npy files -------------------===*
 *
 *   dq-run MODEL_DIR --input input_ids=ids.npy --input attention_mask=m.npy
 *          --output OUT_DIR [--bench N] [--threads N] [--no-checksum]
 *
 * Reads each input from a .npy file (C order), runs the model once, writes
 * one .npy per output named after its path (OUT_DIR/last_hidden_state.npy),
 * and with --bench N runs it N more times and prints the latency (median and
 * min). Links only the dqmlir runtime (include/dqmlir/runtime.h).
 *
 *===----------------------------------------------------------------------===*/

#include "dqmlir/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct {
  char *name;
  dqmlir_tensor tensor;
  int64_t shape[DQMLIR_MAX_RANK];
  void *data;
} Input;

static const struct {
  const char *descr;
  dqmlir_dtype dtype;
} kDescrs[] = {{"<f4", DQMLIR_F32}, {"<f8", DQMLIR_F64}, {"<i8", DQMLIR_I64},
               {"<i4", DQMLIR_I32}, {"<i2", DQMLIR_I16}, {"|i1", DQMLIR_I8},
               {"|u1", DQMLIR_U8},  {"|b1", DQMLIR_BOOL},
               {"<f2", DQMLIR_F16}};

static int die(const char *what, const char *detail) {
  fprintf(stderr, "dq-run: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return 1;
}

/* Reads a C-order .npy file of a dtype the runtime knows. */
static int readNpy(const char *path, Input *in) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return die(path, strerror(errno));
  unsigned char magic[8];
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6) != 0) {
    fclose(f);
    return die(path, "not a .npy file");
  }
  unsigned headerLen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    if (fread(b, 1, 2, f) != 2)
      goto truncated;
    headerLen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4)
      goto truncated;
    headerLen = b[0] | (b[1] << 8) | (b[2] << 16) | ((unsigned)b[3] << 24);
  }
  char *header = malloc(headerLen + 1);
  if (!header || fread(header, 1, headerLen, f) != headerLen) {
    free(header);
    goto truncated;
  }
  header[headerLen] = 0;
  if (strstr(header, "'fortran_order': True")) {
    free(header);
    fclose(f);
    return die(path, "Fortran order: save it with np.ascontiguousarray");
  }
  const char *d = strstr(header, "'descr': '");
  int found = 0;
  for (size_t i = 0; d && i < sizeof(kDescrs) / sizeof(kDescrs[0]); ++i) {
    if (strncmp(d + 10, kDescrs[i].descr, 3) == 0) {
      in->tensor.dtype = kDescrs[i].dtype;
      found = 1;
    }
  }
  const char *s = strstr(header, "'shape': (");
  if (!found || !s) {
    free(header);
    fclose(f);
    return die(path, "unsupported dtype or no shape in its header");
  }
  s += 10;
  int rank = 0;
  int64_t count = 1;
  while (*s && *s != ')') {
    if (*s == ',' || *s == ' ') {
      ++s;
      continue;
    }
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || rank == DQMLIR_MAX_RANK || v < 0) {
      free(header);
      fclose(f);
      return die(path, "bad shape in its header");
    }
    in->shape[rank++] = v;
    count *= v;
    s = end;
  }
  free(header);
  size_t bytes = (size_t)count * dqmlir_dtype_size(in->tensor.dtype);
  in->data = malloc(bytes ? bytes : 1);
  if (!in->data || fread(in->data, 1, bytes, f) != bytes) {
    fclose(f);
    return die(path, "truncated data");
  }
  fclose(f);
  in->tensor.data = in->data;
  in->tensor.shape = in->shape;
  in->tensor.rank = rank;
  return 0;
truncated:
  fclose(f);
  return die(path, "truncated header");
}

static int writeNpy(const char *path, const dqmlir_output *out) {
  const char *descr = NULL;
  for (size_t i = 0; i < sizeof(kDescrs) / sizeof(kDescrs[0]); ++i)
    if (kDescrs[i].dtype == out->dtype)
      descr = kDescrs[i].descr;
  char shape[512] = "";
  int64_t count = 1;
  for (int i = 0; i < out->rank; ++i) {
    char dim[32];
    snprintf(dim, sizeof dim, "%lld,%s", (long long)out->shape[i],
             out->rank > 1 && i + 1 < out->rank ? " " : "");
    strncat(shape, dim, sizeof shape - strlen(shape) - 1);
    count *= out->shape[i];
  }
  if (out->rank > 1) /* "(2, 3,)" -> "(2, 3)" */
    shape[strlen(shape) - 1] = 0;
  char header[640];
  int n = snprintf(header, sizeof header,
                   "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                   descr, shape);
  int total = 10 + n + 1, pad = (64 - total % 64) % 64;
  FILE *f = fopen(path, "wb");
  if (!f)
    return die(path, strerror(errno));
  unsigned short len = (unsigned short)(n + pad + 1);
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fputc(len & 0xff, f);
  fputc(len >> 8, f);
  fwrite(header, 1, (size_t)n, f);
  for (int i = 0; i < pad; ++i)
    fputc(' ', f);
  fputc('\n', f);
  size_t bytes = (size_t)count * dqmlir_dtype_size(out->dtype);
  int ok = fwrite(out->data, 1, bytes, f) == bytes;
  ok &= fclose(f) == 0;
  return ok ? 0 : die(path, "write failed");
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int usage(void) {
  fprintf(stderr, "usage: dq-run MODEL_DIR --input NAME=FILE.npy ... --output "
                  "OUT_DIR [--bench N] [--threads N] [--no-checksum]\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *dir = NULL, *outDir = NULL;
  int bench = 0, threads = 0;
  unsigned flags = 0;
  Input given[64];
  int numGiven = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--input") && i + 1 < argc) {
      char *eq = strchr(argv[++i], '=');
      if (!eq || numGiven == 64)
        return usage();
      *eq = 0;
      memset(&given[numGiven], 0, sizeof given[0]);
      given[numGiven].name = argv[i];
      if (readNpy(eq + 1, &given[numGiven]))
        return 1;
      ++numGiven;
    } else if (!strcmp(argv[i], "--output") && i + 1 < argc) {
      outDir = argv[++i];
    } else if (!strcmp(argv[i], "--bench") && i + 1 < argc) {
      bench = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--no-checksum")) {
      flags |= DQMLIR_OPEN_NO_CHECKSUM;
    } else if (argv[i][0] != '-' && !dir) {
      dir = argv[i];
    } else {
      return usage();
    }
  }
  if (!dir)
    return usage();
  if (threads && dqmlir_set_num_threads(threads) != DQMLIR_OK)
    return die(dqmlir_last_error(), NULL);
  dqmlir_model *model;
  if (dqmlir_model_open(dir, flags, &model) != DQMLIR_OK)
    return die(dqmlir_last_error(), NULL);

  /* Inputs in the model's order, by name. */
  int n = dqmlir_model_num_inputs(model);
  dqmlir_tensor *inputs = calloc((size_t)n + 1, sizeof *inputs);
  for (int i = 0; i < n; ++i) {
    const char *name = dqmlir_model_input_name(model, i);
    int k = 0;
    while (k < numGiven && strcmp(given[k].name, name))
      ++k;
    if (k == numGiven) {
      fprintf(stderr, "dq-run: no --input %s=FILE.npy; the model takes:", name);
      for (int j = 0; j < n; ++j)
        fprintf(stderr, " %s", dqmlir_model_input_name(model, j));
      fprintf(stderr, "\n");
      return 1;
    }
    inputs[i] = given[k].tensor;
  }
  for (int k = 0; k < numGiven; ++k) {
    int known = 0;
    for (int i = 0; i < n; ++i)
      known |= !strcmp(given[k].name, dqmlir_model_input_name(model, i));
    if (!known)
      return die("the model has no input named", given[k].name);
  }
  int m = dqmlir_model_num_outputs(model);
  dqmlir_output *outputs = calloc((size_t)m + 1, sizeof *outputs);
  if (dqmlir_model_run(model, inputs, n, outputs, m) != DQMLIR_OK)
    return die(dqmlir_last_error(), NULL);
  if (outDir) {
    mkdir(outDir, 0777);
    for (int i = 0; i < m; ++i) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s.npy", outDir,
               dqmlir_model_output_name(model, i));
      if (writeNpy(path, &outputs[i]))
        return 1;
    }
  }
  for (int i = 0; i < m; ++i)
    dqmlir_output_free(&outputs[i]);
  if (bench > 0) {
    double *times = malloc(sizeof(double) * (size_t)bench);
    for (int r = 0; r < bench; ++r) {
      double t0 = now();
      if (dqmlir_model_run(model, inputs, n, outputs, m) != DQMLIR_OK)
        return die(dqmlir_last_error(), NULL);
      times[r] = now() - t0;
      for (int i = 0; i < m; ++i)
        dqmlir_output_free(&outputs[i]);
    }
    qsort(times, (size_t)bench, sizeof(double), cmp);
    printf("latency over %d runs: median %.3f ms, min %.3f ms\n", bench,
           times[bench / 2] * 1e3, times[0] * 1e3);
    free(times);
  }
  dqmlir_model_close(model);
  for (int k = 0; k < numGiven; ++k)
    free(given[k].data);
  free(inputs);
  free(outputs);
  return 0;
}
