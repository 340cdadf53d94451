/* varstore tf/: TensorFlow checkpoints (TensorBundle V2: "<prefix>.index"
 * plus "<prefix>.data-NNNNN-of-MMMMM" shards), the internal entry points
 * for the rest of the library. The store calls these wherever it reads a
 * varstore file (vs_restore, vs_init_from_checkpoint, vs_list_variables,
 * vs_load_variable) so that a TF checkpoint is accepted there too:
 *
 *     if (vs__tf_is_checkpoint(path)) {
 *         vs__tf_bundle *b;
 *         rc = vs__tf_open(path, &b);          // parses and checks .index
 *         ... vs__tf_list(b, &infos, &n) / vs__tf_load(b, "foo/v", &t) ...
 *         vs__tf_close(b);
 *     }
 *
 * Errors follow the library's convention (VS_E* code, vs_errmsg()). */
#ifndef VS_TF_BUNDLE_H
#define VS_TF_BUNDLE_H

#include "varstore.h"

typedef struct vs__tf_bundle vs__tf_bundle;

/* 1 when path names a TensorFlow checkpoint: a prefix with "<path>.index",
 * the ".index" file itself, a `checkpoint` state file, a directory holding
 * one, or a SavedModel directory (variables/variables.index). 0 otherwise
 * (a varstore SQLite file, a missing path). Only stats and, for a file
 * named `checkpoint`, reads its first bytes; never sets an error. */
int vs__tf_is_checkpoint(const char *path);

/* Opens the checkpoint path names (any of the forms above): reads and
 * checks the whole .index (footer, block CRCs, header, version). Tensor
 * data is read later, per load. VS_ENOTFOUND (TF's "Unsuccessful
 * TensorSliceReader constructor: Failed to find any matching files for
 * <path>"), VS_ECORRUPT / VS_EIO naming the file. */
VS_NODISCARD int vs__tf_open(const char *path, vs__tf_bundle **out);
void vs__tf_close(vs__tf_bundle *b);
/* The resolved prefix ("dir/model.ckpt-100"). */
const char *vs__tf_prefix(const vs__tf_bundle *b);

/* TF's list_variables: every tensor (partitioned variables once, under
 * their full name), sorted by name; codec "tf-bundle", stored_bytes =
 * raw_bytes, crc32 0 (TF stores a CRC-32C, not the zlib CRC), no stats.
 * Tensors of a dtype varstore lacks (TF 2's string object graph, ...) are
 * left out; vs__tf_load refuses them (VS_EDTYPE naming them). Each
 * listed tensor's declared bytes are checked against its data (stat only,
 * nothing read): its entry's size is its shape's and lies within its
 * shard file (a partitioned one within all of them), so that a caller
 * allocating from the listing allocates no more than the data holds.
 * Free with vs_tensor_info_free. */
VS_NODISCARD int vs__tf_list(vs__tf_bundle *b, vs_tensor_info **out,
                             size_t *n);
/* TF's load_variable: one tensor, bit-exact, its CRC32C checked; a
 * partitioned variable is assembled from its slices. A trailing ":0" is
 * stripped unless a tensor has that very name. VS_ENOTFOUND "Key foo/v not
 * found in checkpoint". */
VS_NODISCARD int vs__tf_load(vs__tf_bundle *b, const char *name,
                             vs_tensor **out);

#endif /* VS_TF_BUNDLE_H */
