/* varstore tools: a checkpoint step written as a TensorFlow checkpoint,
 * for `varstore restore --tf-checkpoint` (imports, inspect and diff read TF
 * checkpoints through the public vs_tf_* calls directly). On failure the
 * message is vst_errmsg(). */
#ifndef VS_TOOLS_TF_CLI_H
#define VS_TOOLS_TF_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "varstore.h"

/* Writes the n tensors `names` of checkpoint `step` of the open file f as
 * the TF checkpoint `prefix` ("dir/model.ckpt"; dir must exist),
 * atomically, with dir/checkpoint naming it. The tensors are read whole
 * (the TF writer takes them in memory). */
int vst_tf_export(vs_ckpt *f, int64_t step, const char *const *names,
                  size_t n, const char *prefix);

#endif /* VS_TOOLS_TF_CLI_H */
