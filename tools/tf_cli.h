/* varstore tools: TensorFlow checkpoints for the CLI's commands, on the
 * public API only (vs_tf_* and the store's calls):
 *   import  (save):    a TF checkpoint -> one varstore checkpoint step
 *   export  (restore): one varstore step -> a TF checkpoint
 *   list    (inspect): a TF checkpoint's tensors, as vs_list_variables
 *                      describes a varstore step (so inspect prints both
 *                      the same way; values through vs_tf_load_variable)
 * A TF checkpoint path is any form vs_tf_is_checkpoint accepts (prefix,
 * .index file, folder with `checkpoint`, state file, SavedModel folder).
 * On failure the message is vst_errmsg(). */
#ifndef VS_TOOLS_TF_CLI_H
#define VS_TOOLS_TF_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "varstore.h"

/* Reads every tensor of the TF checkpoint at tf_path (partitioned
 * variables assembled; tensors of dtypes varstore lacks, such as TF 2's
 * string object graph, are left out) and saves them as checkpoint `step`
 * of the varstore file db_path (created if missing), with opts (NULL:
 * defaults). *n_out (may be NULL): the tensors saved. */
int vst_tf_import(const char *tf_path, const char *db_path, int64_t step,
                  const vs_save_opts *opts, size_t *n_out);

/* Writes checkpoint `step` (VS_LATEST: the newest) of db_path as the TF
 * checkpoint `prefix` ("dir/model.ckpt"; dir must exist), atomically, with
 * dir/checkpoint naming it. *n_out (may be NULL): the tensors written. */
int vst_tf_export(const char *db_path, int64_t step, const char *prefix,
                  size_t *n_out);

/* The tensors of a TF checkpoint, sorted by name (vs_tf_list_variables).
 * Free with vs_tensor_info_free. */
int vst_tf_list(const char *tf_path, vs_tensor_info **out, size_t *n);

#endif /* VS_TOOLS_TF_CLI_H */
