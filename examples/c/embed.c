/*===- embed.c - sentence embeddings from a saved model, in C ---------------===*
 *
 * Runs a saved BERT-style encoder (for example all-MiniLM-L6-v2, saved by
 * `make demo` to build/minilm) on token ids given on the command line and
 * prints the mean-pooled embedding. It links only the dqmlir runtime:
 *
 *   cc embed.c -Iinclude -Lbuild/lib -ldqmlir_runtime -o embed
 *   ./embed build/minilm 101 7592 2088 102
 *
 *===----------------------------------------------------------------------===*/

#include "dqmlir/runtime.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL_DIR TOKEN_ID...\n", argv[0]);
    return 2;
  }
  dqmlir_model *model;
  if (dqmlir_model_open(argv[1], 0, &model) != DQMLIR_OK) {
    fprintf(stderr, "%s\n", dqmlir_last_error());
    return 1;
  }
  int64_t n = argc - 2;
  int64_t *ids = malloc(sizeof(int64_t) * (size_t)n);
  int64_t *mask = malloc(sizeof(int64_t) * (size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    ids[i] = atoll(argv[2 + i]);
    mask[i] = 1;
  }
  int64_t shape[2] = {1, n};
  /* The inputs in the model's order: input_ids, attention_mask. */
  dqmlir_tensor inputs[2];
  for (int i = 0; i < dqmlir_model_num_inputs(model) && i < 2; ++i) {
    const char *name = dqmlir_model_input_name(model, i);
    inputs[i] = (dqmlir_tensor){name[0] == 'i' ? ids : mask, shape, 2, DQMLIR_I64};
  }
  int numOutputs = dqmlir_model_num_outputs(model);
  dqmlir_output *outputs = calloc((size_t)numOutputs, sizeof *outputs);
  if (dqmlir_model_run(model, inputs, dqmlir_model_num_inputs(model), outputs,
                       numOutputs) != DQMLIR_OK) {
    fprintf(stderr, "%s\n", dqmlir_last_error());
    return 1;
  }
  /* outputs[0]: last_hidden_state [1, n, hidden]; mean over the tokens. */
  const float *h = outputs[0].data;
  int64_t hidden = outputs[0].shape[2];
  printf("%s: %lld tokens -> embedding of %lld:", dqmlir_model_output_name(model, 0),
         (long long)n, (long long)hidden);
  for (int64_t j = 0; j < hidden; ++j) {
    float sum = 0;
    for (int64_t t = 0; t < n; ++t)
      sum += h[t * hidden + j];
    if (j < 8)
      printf(" %.5f", sum / (float)n);
  }
  printf(" ...\n");
  for (int i = 0; i < numOutputs; ++i)
    dqmlir_output_free(&outputs[i]);
  free(outputs);
  free(ids);
  free(mask);
  dqmlir_model_close(model);
  return 0;
}
