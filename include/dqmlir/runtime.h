/*===- dqmlir/runtime.h - run saved dqmlir models from C ----------*- C -*-===*
 *
 * A model saved by dqmlir (`compiled.save(dir)`, or `dq-compile`) is a
 * directory: `model.so` (code compiled ahead of time for an x86 CPU level),
 * `weights.bin` (64-byte aligned, read at open) and `manifest.json` (inputs,
 * outputs, required CPU features, checksums). This library opens such a
 * directory and runs the model on caller-owned input buffers; it needs
 * neither Python nor MLIR/LLVM at run time.
 *
 *   dqmlir_model *m;
 *   if (dqmlir_model_open("minilm", 0, &m) != DQMLIR_OK) {
 *     fprintf(stderr, "%s\n", dqmlir_last_error());
 *     return 1;
 *   }
 *   int64_t shape[2] = {1, 128};
 *   dqmlir_tensor in[2] = {{ids, shape, 2, DQMLIR_I64},
 *                          {mask, shape, 2, DQMLIR_I64}};
 *   dqmlir_output out[2];
 *   if (dqmlir_model_run(m, in, 2, out, 2) != DQMLIR_OK) ...
 *   ... out[0].data, out[0].shape ...
 *   dqmlir_output_free(&out[0]); dqmlir_output_free(&out[1]);
 *   dqmlir_model_close(m);
 *
 * Every function reports failure by its return code; `dqmlir_last_error()`
 * then says what went wrong (per thread). Calls of one model from several
 * threads at once are safe.
 *
 *===----------------------------------------------------------------------===*/
#ifndef DQMLIR_RUNTIME_H
#define DQMLIR_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DQMLIR_MAX_RANK 16

/* Return codes; each matches the Python exception dqmlir raises for it. */
typedef enum dqmlir_status {
  DQMLIR_OK = 0,
  DQMLIR_ERROR_TYPE = 1,           /* TypeError: wrong dtype, count */
  DQMLIR_ERROR_VALUE = 2,          /* ValueError: wrong rank or sizes */
  DQMLIR_ERROR_INDEX = 3,          /* IndexError: an index out of range */
  DQMLIR_ERROR_ZERO_DIVISION = 4,  /* ZeroDivisionError */
  DQMLIR_ERROR_RUNTIME = 5,        /* RuntimeError: another failed check */
  DQMLIR_ERROR_FORMAT = 6,         /* the model directory is unusable */
  DQMLIR_ERROR_CPU = 7,            /* this CPU lacks what the code needs */
  DQMLIR_ERROR_MEMORY = 8          /* out of memory */
} dqmlir_status;

typedef enum dqmlir_dtype {
  DQMLIR_F32 = 0,
  DQMLIR_F64 = 1,
  DQMLIR_I64 = 2,
  DQMLIR_I32 = 3,
  DQMLIR_I16 = 4,
  DQMLIR_I8 = 5,
  DQMLIR_U8 = 6,
  DQMLIR_BOOL = 7,
  DQMLIR_F16 = 8,
  DQMLIR_BF16 = 9
} dqmlir_dtype;

/* An input: `data` holds the elements contiguously in row-major order. */
typedef struct dqmlir_tensor {
  const void *data;
  const int64_t *shape;
  int32_t rank;
  dqmlir_dtype dtype;
} dqmlir_tensor;

/* An output, owned by the caller once run returns: free it with
 * dqmlir_output_free. `data` is contiguous and row-major. */
typedef struct dqmlir_output {
  void *data;
  int64_t shape[DQMLIR_MAX_RANK];
  int32_t rank;
  dqmlir_dtype dtype;
  void *owner; /* what dqmlir_output_free releases */
} dqmlir_output;

typedef struct dqmlir_model dqmlir_model;

/* Flags of dqmlir_model_open. */
#define DQMLIR_OPEN_NO_CHECKSUM 1u /* skip the weights' checksum */

/* Opens a saved model directory. Fails with DQMLIR_ERROR_FORMAT for a
 * missing, truncated or changed file or another format version, and with
 * DQMLIR_ERROR_CPU when this CPU (or OS) lacks a feature the code needs. */
dqmlir_status dqmlir_model_open(const char *dir, unsigned flags,
                                dqmlir_model **model);
void dqmlir_model_close(dqmlir_model *model);

/* The model's inputs and outputs (flat, in the order run takes them). A dim
 * of -1 is dynamic. Names are the Python argument paths, e.g. "input_ids",
 * "past_key_values[0][1]", and output paths, e.g. "last_hidden_state". */
int dqmlir_model_num_inputs(const dqmlir_model *model);
int dqmlir_model_num_outputs(const dqmlir_model *model);
const char *dqmlir_model_input_name(const dqmlir_model *model, int i);
dqmlir_dtype dqmlir_model_input_dtype(const dqmlir_model *model, int i);
int dqmlir_model_input_rank(const dqmlir_model *model, int i);
int64_t dqmlir_model_input_dim(const dqmlir_model *model, int i, int d);
const char *dqmlir_model_output_name(const dqmlir_model *model, int i);
dqmlir_dtype dqmlir_model_output_dtype(const dqmlir_model *model, int i);
int dqmlir_model_output_rank(const dqmlir_model *model, int i);
/* The manifest's JSON text (everything above and more). */
const char *dqmlir_model_manifest(const dqmlir_model *model);

/* Checks the inputs against the model's signature (dtypes, ranks, sizes
 * that must be equal, ranges) and runs it. On success each of the
 * `num_outputs` outputs is filled in and owned by the caller. */
dqmlir_status dqmlir_model_run(dqmlir_model *model, const dqmlir_tensor *inputs,
                               int num_inputs, dqmlir_output *outputs,
                               int num_outputs);

/* Only the checks of dqmlir_model_run (what it would reject, and why). */
dqmlir_status dqmlir_model_check(const dqmlir_model *model,
                                 const dqmlir_tensor *inputs, int num_inputs);

void dqmlir_output_free(dqmlir_output *output);

/* What the last failing call of this thread said. */
const char *dqmlir_last_error(void);

/* Threads of the pool that models compiled with threads > 1 run on,
 * counting the calling thread (default: the CPUs this process may use). */
dqmlir_status dqmlir_set_num_threads(int threads);

/* Models compiled with profiling (dq-compile --profile; dqmlir.profile)
 * add the time of each op to its entry k of the manifest's "profile_ops"
 * list ([kind, label]: kind indexes the manifest's "profile" list of kind
 * names; the twelve copies of a layer's op share an entry). Fills
 * seconds[k] and ops[k] (either may be NULL) for k < min(capacity, n) and
 * returns n, one more than the highest entry seen. */
int dqmlir_profile_read(double *seconds, int64_t *ops, int capacity);
void dqmlir_profile_reset(void);

const char *dqmlir_runtime_version(void);
size_t dqmlir_dtype_size(dqmlir_dtype dtype);
const char *dqmlir_dtype_name(dqmlir_dtype dtype);

#ifdef __cplusplus
}
#endif

#endif /* DQMLIR_RUNTIME_H */
