/* varstore: TensorFlow 1.x variable sharing for C, with checkpoints in SQLite.
 *
 * This is the one public header. Anything not declared here is not API.
 *
 * Conventions:
 * - the handle comes first and outputs come last (as sqlite3_open(path, &db));
 * - every int-returning call returns VS_OK (0) or a negative VS_E* code, and
 *   on failure sets this thread's message, read with vs_errmsg();
 * - every `opts` pointer may be NULL, meaning all defaults, and a
 *   zero-initialized options struct ({0}, or designated initializers naming
 *   only some fields) means all defaults, field by field;
 * - an `out` pointer may be NULL only where marked;
 * - destructors accept NULL;
 * - a graph is used by one thread at a time; separate graphs are independent;
 *   checkpoint files are safe to share between threads and processes.
 *
 * Error codes. Besides the codes a function's comment names, every call
 * that takes a pointer may return VS_EINVAL for a NULL one (or any argument
 * out of range), every call that allocates may return VS_ENOMEM, and every
 * call that reads or writes a file may return VS_EIO (the file system
 * failed: permissions, a full disk), VS_ECORRUPT (the file is damaged or not
 * a varstore file; the message names the tensor and step where there is
 * one) and VS_EBUSY (another connection kept the file locked longer than
 * the busy timeout). Codes are stable and never renumbered.
 *
 * Process-wide calls: vs_set_num_threads, and the buffers vs_tensor_free
 * keeps for reuse, are shared by every thread and graph of the process;
 * they are thread-safe. Everything else is per graph or per call.
 *
 * ABI. The shared library keeps its SONAME (libvarstore.so.0) while every
 * program built against an older header of the same major version keeps
 * working. Options structs only ever grow at their end; when a release adds
 * a field, the function taking that struct gets a new ELF symbol version and
 * the library keeps the old entry point, which reads the caller's shorter
 * struct and takes defaults (zeros) for the new fields. So `{0}` and
 * designated initializers stay correct across releases, with no size field
 * or version to fill in.
 */
#ifndef VARSTORE_H
#define VARSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VS_VERSION_MAJOR 0
#define VS_VERSION_MINOR 1
#define VS_VERSION_PATCH 0
#define VS_VERSION_STRING "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define VS_NODISCARD __attribute__((warn_unused_result))
#else
#define VS_NODISCARD
#endif

/* VS_API marks the library's exported functions: the library is built with
 * hidden visibility, so only what this header declares with VS_API is
 * visible in libvarstore.so. */
#if defined(_WIN32) && defined(VS_BUILDING_DLL)
#define VS_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define VS_API __attribute__((visibility("default")))
#else
#define VS_API
#endif

/** "MAJOR.MINOR.PATCH" of the library linked in (may differ from the
 *  header's VS_VERSION_STRING when linking dynamically). */
VS_API const char *vs_version(void);

/* ------------------------------------------------------------------------ */
/* Types, codes, errors                                                      */

typedef struct vs_graph vs_graph; /* graph + session: registry and values */
typedef struct vs_scope vs_scope; /* a variable scope; can be re-entered */
typedef struct vs_var vs_var;     /* a variable, owned by its graph */

typedef enum {
    VS_FLOAT32 = 1,
    VS_FLOAT64,
    VS_FLOAT16,
    VS_BFLOAT16,
    VS_INT8,
    VS_UINT8,
    VS_INT32,
    VS_INT64,
    VS_BOOL
} vs_dtype;

enum {
    VS_OK = 0,
    VS_ERROR = -1,
    VS_EEXIST = -2,
    VS_ENOTFOUND = -3,
    VS_ESHAPE = -4,
    VS_EDTYPE = -5,
    VS_EUNINIT = -6,
    VS_EINVAL = -7,
    VS_ECORRUPT = -8,
    VS_EIO = -9,
    VS_ENOMEM = -10,
    VS_EBUSY = -11,     /* another connection holds the checkpoint file
                           longer than the busy timeout */
    VS_ERESTORING = -12, /* the variable is being restored in place (a
                            call from a restore's progress callback) */
    VS_ECHANGED = -13    /* the checkpoint being read was deleted or
                            replaced (by a save of the same step) by
                            another connection while it was read */
}; /* stable: never renumbered; add new ones below */

typedef enum { VS_REUSE_INHERIT = 0, VS_REUSE = 1, VS_AUTO_REUSE = 2 } vs_reuse;

#define VS_MAX_DIMS 8
typedef struct {
    vs_dtype dtype;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    void *data;
} vs_tensor;

/** The message of this thread's last FAILED call (errno-like): a later
 *  successful call leaves it unchanged. Never NULL. */
VS_API const char *vs_errmsg(void);
/** Static text for a code ("not found", ...). Never NULL. */
VS_API const char *vs_errstr(int code);
/** Frees memory that varstore handed to the caller (strings, arrays).
 *  NULL is a no-op. */
VS_API void vs_free(void *p);

/* ------------------------------------------------------------------------ */
/* dtypes and tensors                                                        */
/* Codes: vs_dtype_from_name, vs_tensor_new, vs_tensor_from_data and
 * vs_shape_check return VS_EINVAL for a bad dtype, rank or dimension, or a
 * byte size that overflows; the allocating ones VS_ENOMEM. */

/** Bytes per element; 0 for an invalid dtype. */
VS_API size_t vs_dtype_size(vs_dtype dtype);
/** TF's name: "float32", "float64", "float16", "bfloat16", "int8", "uint8",
 *  "int32", "int64", "bool"; "invalid" for anything else. */
VS_API const char *vs_dtype_name(vs_dtype dtype);
/** Inverse of vs_dtype_name. VS_EINVAL for an unknown name. */
VS_API VS_NODISCARD int vs_dtype_from_name(const char *name, vs_dtype *out);
VS_API int vs_dtype_is_floating(vs_dtype dtype);

/** IEEE binary16 and bfloat16 storage conversions (round to nearest even;
 *  NaN stays NaN, overflow gives Inf). */
VS_API uint16_t vs_float_to_half(float f);
VS_API float vs_half_to_float(uint16_t h);
VS_API uint16_t vs_float_to_bfloat16(float f);
VS_API float vs_bfloat16_to_float(uint16_t b);

/** A new zero-filled tensor. ndim 0 is a scalar. VS_EINVAL for a negative
 *  dimension, ndim outside [0, VS_MAX_DIMS], a bad dtype, or a shape whose
 *  byte size overflows (never a wrapped allocation). Caller frees with
 *  vs_tensor_free. */
VS_API VS_NODISCARD int vs_tensor_new(vs_dtype dtype, int ndim, const int64_t *shape,
                                      vs_tensor **out);
/** As vs_tensor_new, then copies vs_tensor_nbytes bytes from data. */
VS_API VS_NODISCARD int vs_tensor_from_data(vs_dtype dtype, int ndim,
                                            const int64_t *shape, const void *data,
                                            vs_tensor **out);
/** Frees t. Large buffers freed here may be kept (a few, process-wide) for
 *  reuse by later checkpoint loads, which overwrite them whole;
 *  vs_tensor_new never gets one back. */
VS_API void vs_tensor_free(vs_tensor *t);
/** Element count / byte size of a tensor whose shape was already validated
 *  (any tensor made by varstore). */
VS_API int64_t vs_tensor_numel(const vs_tensor *t);
VS_API size_t vs_tensor_nbytes(const vs_tensor *t);
/** Checks dtype, ndim and dims, and computes the element count and byte
 *  size without overflow: VS_EINVAL otherwise. Either out may be NULL. */
VS_API VS_NODISCARD int vs_shape_check(vs_dtype dtype, int ndim, const int64_t *shape,
                                       int64_t *numel_out, size_t *nbytes_out);

/* ------------------------------------------------------------------------ */
/* Graph, name scopes, unique names                                          */
/* Codes: vs_graph_open VS_ENOMEM or VS_ERROR (the in-memory registry could
 * not be made); vs_name_scope_push, vs_name_scope_pop and vs_unique_name
 * VS_EINVAL (TF's texts) and VS_ENOMEM. */

VS_API VS_NODISCARD int vs_graph_open(vs_graph **out);
VS_API void vs_graph_close(vs_graph *g);
/** TF's graph-level seed (tf.set_random_seed). VS_NO_SEED clears it. */
VS_API void vs_graph_set_random_seed(vs_graph *g, int64_t seed);

/** Opens a name scope, as TF's `with tf.name_scope(name)`:
 *  "a" is relative and made unique ("a", again "a_1"); "a/" re-enters the
 *  absolute scope "a" as is; NULL or "" resets to the root. VS_EINVAL with
 *  "'_x' is not a valid scope name" for an invalid name. */
VS_API VS_NODISCARD int vs_name_scope_push(vs_graph *g, const char *name);
/** Closes the innermost name scope opened with vs_name_scope_push.
 *  VS_EINVAL when there is none (or when it belongs to a variable scope). */
VS_API VS_NODISCARD int vs_name_scope_pop(vs_graph *g);
/** The current name scope with its trailing "/" ("" at the root). Owned by
 *  the graph; valid until the next scope change. */
VS_API const char *vs_name_scope_current(const vs_graph *g);
/** TF's Graph.unique_name: the current name scope joined with name, made
 *  unique against every op and name scope name so far (case-insensitively;
 *  "a", "a_1", ...). With mark_used, the name is taken (as when an op is
 *  created). The caller frees *out with vs_free. */
VS_API VS_NODISCARD int vs_unique_name(vs_graph *g, const char *name, int mark_used,
                                       char **out);

/* ------------------------------------------------------------------------ */
/* Initializers                                                              */
/* Codes: vs_init_fill returns VS_EINVAL (TF's texts: a shape the
 * initializer cannot fill, a bad dtype, too many constant values),
 * VS_ENOMEM, and VS_ERROR when a worker thread cannot be started. */

/** seed < 0 (VS_NO_SEED) means no op seed: TF's seed rules then apply. */
#define VS_NO_SEED (-1)

/* vs_init.kind */
enum {
    VS_INIT_NONE = 0, /* "not given": a zero-initialized vs_init */
    VS_INIT_ZEROS,
    VS_INIT_ONES,
    VS_INIT_CONSTANT,         /* a = value, or values/n_values */
    VS_INIT_RANDOM_NORMAL,    /* a = mean, b = stddev */
    VS_INIT_TRUNCATED_NORMAL, /* a = mean, b = stddev; redraw beyond 2 sd */
    VS_INIT_RANDOM_UNIFORM,   /* [a, b) */
    VS_INIT_VARIANCE_SCALING, /* a = scale; mode; distribution */
    VS_INIT_XAVIER,           /* contrib: a = factor; distribution uniform or
                                 truncated normal; its own fan rules */
    VS_INIT_ORTHOGONAL,       /* a = gain */
    VS_INIT_IDENTITY          /* a = gain; 2-D only */
};
/* vs_init.mode for variance scaling */
enum { VS_FAN_IN = 0, VS_FAN_OUT = 1, VS_FAN_AVG = 2 };
/* vs_init.distribution */
enum {
    VS_DIST_TRUNCATED_NORMAL = 0, /* TF 1.15 default; "normal" is the same */
    VS_DIST_UNIFORM = 1,
    VS_DIST_UNTRUNCATED_NORMAL = 2,
    VS_DIST_NORMAL = 3 /* alias of truncated normal, as in TF 1.15 */
};

typedef struct vs_init {
    int kind;
    double a, b, c;
    int mode, distribution;
    int64_t seed;
    /* A list constant (TF's constant_initializer([..])). Borrowed: copied
     * when a variable is created with it. */
    const double *values;
    size_t n_values;
} vs_init;

VS_API vs_init vs_init_zeros(void);
VS_API vs_init vs_init_ones(void);
VS_API vs_init vs_init_constant(double value);
/** constant_initializer(list): a shorter list is padded with its last
 *  element, a longer one is "Too many elements provided. Needed at most 6,
 *  but received 8". values is borrowed until the variable is created. */
VS_API vs_init vs_init_constant_values(const double *values, size_t n);
VS_API vs_init vs_init_random_normal(double mean, double stddev, int64_t seed);
VS_API vs_init vs_init_truncated_normal(double mean, double stddev, int64_t seed);
VS_API vs_init vs_init_random_uniform(double minval, double maxval, int64_t seed);
VS_API vs_init vs_init_glorot_uniform(int64_t seed);
VS_API vs_init vs_init_glorot_normal(int64_t seed);
VS_API vs_init vs_init_variance_scaling(double scale, int mode, int distribution,
                                        int64_t seed);
VS_API vs_init vs_init_he_normal(int64_t seed);
VS_API vs_init vs_init_he_uniform(int64_t seed);
VS_API vs_init vs_init_lecun_normal(int64_t seed);
VS_API vs_init vs_init_lecun_uniform(int64_t seed);
/** tf.contrib.layers.xavier_initializer(uniform, seed); the _conv2d variant
 *  is the same function in TF, and here. */
VS_API vs_init vs_init_xavier(int uniform, int64_t seed);
VS_API vs_init vs_init_xavier_conv2d(int uniform, int64_t seed);
VS_API vs_init vs_init_orthogonal(double gain, int64_t seed);
VS_API vs_init vs_init_identity(double gain);

/** Fills t (whose dtype and shape are set and data allocated) as the
 *  initializer would, with the kernel seeds (seed, seed2) already resolved
 *  by TF's rules (see vs_graph). Errors use TF's texts. */
VS_API VS_NODISCARD int vs_init_fill(const vs_init *init, vs_tensor *t, int64_t seed,
                                     int64_t seed2);

/* ------------------------------------------------------------------------ */
/* Variable scopes                                                           */
/* Codes: the push/reenter/pop/exit calls return VS_EINVAL (TF's texts:
 * invalid names, improper nesting, reuse values) and VS_ENOMEM. */

typedef struct {
    vs_reuse reuse;                    /* VS_REUSE_INHERIT: inherit */
    const struct vs_init *initializer; /* NULL: inherit */
    vs_dtype dtype;                    /* 0: inherit */
    const char *default_name;  /* name NULL: TF's default_name, made unique */
    int no_auxiliary_name_scope; /* TF's auxiliary_name_scope=False */
} vs_scope_opts;

/** `with tf.variable_scope(name, ...)`. name NULL: opts->default_name must
 *  be set; an empty one behaves as in TF (name scope back at the root,
 *  scopes named "", "_1", ... under the current one). out may be NULL;
 *  the scope object is owned by the graph and stays valid (for re-entry)
 *  until the graph is closed. */
VS_API VS_NODISCARD int vs_variable_scope_push(vs_graph *g, const char *name,
                                               const vs_scope_opts *opts,
                                               vs_scope **out);
/** `with tf.variable_scope(scope_object, ...)`: re-entry. */
VS_API VS_NODISCARD int vs_variable_scope_reenter(vs_graph *g, vs_scope *scope,
                                                  const vs_scope_opts *opts);
/** Leaves the innermost variable scope. "Improper nesting of
 *  variable_scope." (VS_EINVAL) when a name scope opened inside it is still
 *  open. */
VS_API VS_NODISCARD int vs_variable_scope_pop(vs_graph *g);
/** Like vs_variable_scope_pop, but checks that `scope` is the innermost
 *  one: TF's "Improper nesting of variable_scope." otherwise. */
VS_API VS_NODISCARD int vs_variable_scope_exit(vs_graph *g, vs_scope *scope);
VS_API void vs_scope_reuse_variables(vs_scope *scope);
VS_API const char *vs_scope_name(const vs_scope *scope);
/** The name scope opened with it, with "/" (TF's original_name_scope). */
VS_API const char *vs_scope_original_name_scope(const vs_scope *scope);
VS_API vs_reuse vs_scope_reuse(const vs_scope *scope);
VS_API vs_dtype vs_scope_dtype(const vs_scope *scope);
/** The scope's default initializer; NULL when none is set. */
VS_API const vs_init *vs_scope_initializer(const vs_scope *scope);
/** Sets the default initializer of this scope object (TF's
 *  set_initializer); NULL clears it. */
VS_API void vs_scope_set_initializer(vs_scope *scope, const vs_init *init);
/** The current variable scope object (tf.get_variable_scope()). It stays
 *  valid, for re-entry, until the graph is closed (so does every object
 *  handed out by vs_variable_scope_push's out); scope objects never handed
 *  out are freed when their scope is left. */
VS_API vs_scope *vs_get_variable_scope(vs_graph *g);

/* ------------------------------------------------------------------------ */
/* Variables                                                                 */
/* Codes: vs_get_variable, vs_get_local_variable and vs_variable return
 * VS_EEXIST, VS_ENOTFOUND, VS_ESHAPE, VS_EDTYPE and VS_EINVAL with TF's
 * texts (see the error table of docs/API.md), and VS_ENOMEM; vs_var_value
 * VS_EUNINIT; vs_assign VS_ESHAPE, VS_EDTYPE, VS_EINVAL; vs_assign and the
 * initializers VS_ERESTORING for a variable that a restore is filling in
 * place (a call from its progress callback). */

typedef struct {
    const int64_t *shape;
    int ndim;       /* shape NULL: unspecified (reuse); ndim 0: scalar */
    vs_dtype dtype; /* 0: the scope's default, else VS_FLOAT32 */
    const struct vs_init *initializer; /* NULL: the scope's, else glorot
                                          uniform (floats) or zeros */
    int not_trainable; /* 0: trainable, as in TF */
    const char *const *collections; /* NULL-terminated; NULL: {GLOBAL} */
} vs_var_opts;

VS_API VS_NODISCARD int vs_get_variable(vs_graph *g, const char *name,
                                        const vs_var_opts *opts, vs_var **out);
/** tf.get_local_variable: not trainable, in LOCAL_VARIABLES only. */
VS_API VS_NODISCARD int vs_get_local_variable(vs_graph *g, const char *name,
                                              const vs_var_opts *opts, vs_var **out);
/** tf.Variable; copies initial_value at once; name NULL: "Variable".
 *  opts->dtype, if set, must equal initial_value's dtype. */
VS_API VS_NODISCARD int vs_variable(vs_graph *g, const char *name,
                                    const vs_tensor *initial_value,
                                    const vs_var_opts *opts, vs_var **out);
VS_API const char *vs_var_name(const vs_var *v);    /* "foo/v:0" */
VS_API const char *vs_var_op_name(const vs_var *v); /* "foo/v": checkpoint key */
VS_API vs_dtype vs_var_dtype(const vs_var *v);
VS_API int vs_var_shape(const vs_var *v, int64_t dims[VS_MAX_DIMS]); /* -> ndim */
VS_API int vs_var_trainable(const vs_var *v);
VS_API int vs_var_is_initialized(const vs_var *v);
/** The LIVE value, owned by the graph: writing through it changes the
 *  variable. VS_EUNINIT ("Attempting to use uninitialized value foo/v")
 *  before initialization. */
VS_API VS_NODISCARD int vs_var_value(vs_var *v, vs_tensor **out);
/** Copies value in (and marks the variable initialized); the shape and the
 *  dtype must match exactly. */
VS_API VS_NODISCARD int vs_assign(vs_var *v, const vs_tensor *value);
VS_API VS_NODISCARD int vs_global_variables_initializer(vs_graph *g);
VS_API VS_NODISCARD int vs_local_variables_initializer(vs_graph *g);
VS_API VS_NODISCARD int vs_variables_initializer(vs_graph *g, vs_var *const *vars,
                                                 size_t n);

/** Members of collection `key` in creation order, filtered as TF's
 *  get_collection(key, scope): kept when the regex scope_regex (POSIX
 *  extended) matches at the start of the variable's name ("foo/v:0").
 *  Writes at most cap pointers to out (out may be NULL when cap is 0) and
 *  returns the total count. An invalid regex returns 0 and sets the
 *  message. */
VS_API size_t vs_get_collection(vs_graph *g, const char *key, const char *scope_regex,
                                vs_var **out, size_t cap);
/** scope.get_collection(key): members under "scope.name/" (all at root). */
VS_API size_t vs_scope_get_collection(vs_graph *g, const vs_scope *scope,
                                      const char *key, vs_var **out, size_t cap);
#define VS_GLOBAL_VARIABLES "variables"
#define VS_TRAINABLE_VARIABLES "trainable_variables"
#define VS_LOCAL_VARIABLES "local_variables"

/* ------------------------------------------------------------------------ */
/* Partitioned variables (TF's partitioners and PartitionedVariable)         */
/* Codes: vs_scope_set_partitioner VS_EINVAL; vs_get_partitioned_variable
 * the codes of vs_get_variable, with TF's partitioned texts. */

/* vs_partitioner.kind */
enum {
    VS_PARTITION_NONE = 0,          /* "not given": inherit */
    VS_PARTITION_FIXED_SIZE,        /* fixed_size_partitioner: parts[axis] =
                                       min(num_shards, shape[axis]) */
    VS_PARTITION_VARIABLE_AXIS_SIZE, /* variable_axis_size_partitioner:
                                       shards of at most max_shard_bytes,
                                       capped at max_shards (0: no cap) */
    VS_PARTITION_MIN_MAX            /* min_max_variable_partitioner:
                                       max(1, min(shape[axis],
                                       max_partitions, ceil(bytes /
                                       min_slice_size))) */
};
/* TF's default min_slice_size of min_max_variable_partitioner (256 KiB). */
#define VS_MIN_SLICE_SIZE_DEFAULT ((int64_t)256 << 10)

typedef struct vs_partitioner {
    int kind;
    int axis; /* >= 0 and below the variable's rank */
    int num_shards;          /* FIXED_SIZE */
    int64_t max_shard_bytes; /* VARIABLE_AXIS_SIZE, >= 1 */
    int max_shards;          /* VARIABLE_AXIS_SIZE, 0: no cap */
    int max_partitions;      /* MIN_MAX */
    int64_t min_slice_size;  /* MIN_MAX, bytes, >= 1 */
} vs_partitioner;

VS_API vs_partitioner vs_partitioner_fixed_size(int num_shards, int axis);
VS_API vs_partitioner vs_partitioner_variable_axis_size(int64_t max_shard_bytes,
                                                        int axis, int max_shards);
VS_API vs_partitioner vs_partitioner_min_max(int max_partitions, int axis,
                                             int64_t min_slice_size);

/** TF's VariableScope.set_partitioner (and variable_scope(...,
 *  partitioner=p) when called right after entering): sets this scope
 *  object's default partitioner (copied; NULL or kind VS_PARTITION_NONE
 *  clears it). Scopes opened inside it later inherit it; re-entering the
 *  object gets it. VS_EINVAL for an invalid partitioner. */
VS_API VS_NODISCARD int vs_scope_set_partitioner(vs_scope *scope,
                                                 const vs_partitioner *p);
/** The scope's partitioner; NULL when none. */
VS_API const vs_partitioner *vs_scope_partitioner(const vs_scope *scope);

typedef struct vs_partitioned vs_partitioned; /* owned by its graph */

/** TF's get_variable with a partitioner: the parts are ordinary variables
 *  "<full>/part_0" ... (store keys, op names, collection members in
 *  order); the first dim % n shards along the axis get one more row.
 *  partitioner NULL (or kind VS_PARTITION_NONE): the scope's; with reuse=
 *  VS_REUSE none is needed to get an existing one (a missing one is then
 *  VS_ENOTFOUND with TF's "Variable foo/v does not exist, ..."). Errors
 *  and reuse rules are TF's, with C names (a shape with a zero dimension
 *  is refused, as TF's partition info refuses it). Each part is
 *  initialized with its shard shape and the same op seed (as TF); core
 *  variance scaling (glorot, he, lecun) takes its fans, and identity its
 *  eye, from the FULL shape (TF's partition_info); contrib xavier and the
 *  others use the shard shape. vs_get_variable under a scope partitioner with a
 *  non-scalar (or unspecified) shape fails with VS_EINVAL and says to
 *  use this call; a scalar ignores the partitioner, as in TF. vs_save
 *  writes a partitioned variable as ONE tensor under its full name, with
 *  the full shape; vs_restore reads it into any partitioning, or none
 *  (also vs_init_from_checkpoint, by full name or scope). Explicit
 *  vs_save_ex/vs_restore_ex lists must hold every part of it, unless keys
 *  are given: then each part is a separate tensor under its key. */
VS_API VS_NODISCARD int vs_get_partitioned_variable(vs_graph *g, const char *name,
                                                    const vs_var_opts *opts,
                                                    const vs_partitioner *partitioner,
                                                    vs_partitioned **out);
/** "scope0/name0" (no ":0"); "" for NULL. */
VS_API const char *vs_partitioned_name(const vs_partitioned *p);
VS_API size_t vs_partitioned_num_parts(const vs_partitioned *p);
/** Part i, sorted by offset; NULL when i is out of range. */
VS_API vs_var *vs_partitioned_part(const vs_partitioned *p, size_t i);
VS_API vs_dtype vs_partitioned_dtype(const vs_partitioned *p);
/** The full shape into dims; returns the rank (-1 for NULL). */
VS_API int vs_partitioned_shape(const vs_partitioned *p, int64_t dims[VS_MAX_DIMS]);
/** Part i's offset in the full variable (one entry per dim); returns the
 *  rank, or -1 when p is NULL or i is out of range. */
VS_API int vs_partitioned_part_offset(const vs_partitioned *p, size_t i,
                                      int64_t offset[VS_MAX_DIMS]);
/** The partition list (TF's _get_partitions: 1 except on the slice
 *  axis); returns the rank (-1 for NULL). */
VS_API int vs_partitioned_partitions(const vs_partitioned *p,
                                     int64_t parts[VS_MAX_DIMS]);

/* ------------------------------------------------------------------------ */
/* Ops (float32 unless stated; outputs are new tensors the caller frees)      */
/* Codes: every op returns VS_EINVAL (TF's texts: ranks, shapes, strides,
 * paddings), VS_EDTYPE for a dtype it does not take, and VS_ENOMEM.
 * vs_set_num_threads is process-wide: it sets the threads of every later
 * op in every thread and graph. */

typedef enum { VS_PAD_SAME, VS_PAD_VALID } vs_padding;
/** NHWC input, HWIO filter, strides {1, sh, sw, 1}. */
VS_API VS_NODISCARD int vs_conv2d(const vs_tensor *input, const vs_tensor *filter,
                                  const int strides[4], vs_padding padding,
                                  vs_tensor **out);
/** conv2d with dilations {1, dh, dw, 1} (NULL: no dilation). */
VS_API VS_NODISCARD int vs_conv2d_ex(const vs_tensor *input, const vs_tensor *filter,
                                     const int strides[4], vs_padding padding,
                                     const int dilations[4], vs_tensor **out);
/** value + bias along the last dimension. */
VS_API VS_NODISCARD int vs_bias_add(const vs_tensor *value, const vs_tensor *bias,
                                    vs_tensor **out);
VS_API VS_NODISCARD int vs_relu(const vs_tensor *x, vs_tensor **out);
/** 2-D matrix product, optionally transposing either side. */
VS_API VS_NODISCARD int vs_matmul(const vs_tensor *a, const vs_tensor *b,
                                  int transpose_a, int transpose_b, vs_tensor **out);
/** NHWC pools; ksize and strides are {1, kh, kw, 1}. */
VS_API VS_NODISCARD int vs_max_pool(const vs_tensor *x, const int ksize[4],
                                    const int strides[4], vs_padding padding,
                                    vs_tensor **out);
VS_API VS_NODISCARD int vs_avg_pool(const vs_tensor *x, const int ksize[4],
                                    const int strides[4], vs_padding padding,
                                    vs_tensor **out);
/** Threads used by ops (conv2d, matmul); 0 = all cores (default). */
VS_API void vs_set_num_threads(int n);

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                               */
/* Codes, beyond the file codes every call may return (VS_EIO, VS_ECORRUPT,
 * VS_EBUSY): VS_ENOTFOUND for a missing file, step or key ("Key foo/v not
 * found in checkpoint"); vs_restore*, vs_init_from_checkpoint and
 * vs_load_variable VS_ESHAPE / VS_EDTYPE when a stored tensor does not fit
 * its variable; vs_save* VS_EUNINIT for a variable without a value;
 * vs_rename_prefix VS_EEXIST for a collision; VS_ERESTORING from a restore
 * whose variables another restore is filling; VS_ECHANGED from a read of
 * tensors (restore, load, stream) of a rollback-journal file whose step
 * another connection deleted or saved again while it was being read
 * ("checkpoint N of F was deleted or replaced while it was being read"):
 * such reads read the chunks in short transactions, so that saves can
 * commit meanwhile, and never return bytes of two different saves. */

#define VS_LATEST (-1)

/** Saves every global variable as checkpoint `step` in the SQLite file at
 *  path (created if missing). One transaction; returns with no transaction
 *  or lock held; VS_OK means durable. A failure leaves the file's earlier
 *  checkpoints as they were and the new step either absent or whole: what
 *  runs after the commit (retention) can fail and be reported with the
 *  step saved. */
VS_API VS_NODISCARD int vs_save(vs_graph *g, const char *path, int64_t step);
/** Restores every global variable from checkpoint `step` (VS_LATEST: the
 *  newest); this initializes them. */
VS_API VS_NODISCARD int vs_restore(vs_graph *g, const char *path, int64_t step);
VS_API VS_NODISCARD int vs_latest_checkpoint(const char *path, int64_t *step);
/** {"old_scope/", "new_scope/", ..., NULL}; TF's rules: it replaces the
 *  initializers, so vs_global_variables_initializer then loads the values. */
VS_API VS_NODISCARD int vs_init_from_checkpoint(vs_graph *g, const char *path,
                                                const char *const *assignment_map);

/* ---- checkpoint options and file-level calls (store/) ---- */

/* vs_save_opts.max_to_keep: keep every checkpoint. */
#define VS_KEEP_ALL (-1)
/* vs_save_opts.keep_checkpoint_every_n_hours: keep none for good. */
#define VS_KEEP_HOURS_OFF (-1.0)

/* vs_save_opts.codec */
enum {
    VS_CODEC_DEFAULT = 0, /* byte shuffle + zlib on the planes where it pays */
    VS_CODEC_RAW = 1      /* stored as is (fastest save/restore) */
};

typedef struct {
    size_t chunk_bytes;  /* raw bytes per chunk; 0: 1 MiB */
    int codec;           /* VS_CODEC_* */
    int level;           /* zlib level 1-9; 0: the measured default */
    int threads;         /* compression threads; 0: all cores, or the
                            calling thread alone for a save of at most
                            1 MiB (16 MiB with VS_CODEC_RAW) */
    /* A subset (TF's Saver var_list): n_vars variables, saved under keys
     * (TF's dict form; keys NULL: their op names). vars NULL: every global
     * variable. */
    vs_var *const *vars;
    const char *const *keys;
    size_t n_vars;
    /* Retention as TF's Saver, applied after this save commits. 0: the
     * file's setting (vs_set_retention; a new file keeps everything);
     * VS_KEEP_ALL: keep every checkpoint, whatever the file says; N > 0:
     * keep the newest N. */
    int max_to_keep;
    /* 0: the file's setting; > 0: beyond max_to_keep, keep one checkpoint
     * every this many hours for good; VS_KEEP_HOURS_OFF: none, whatever
     * the file says. NaN, inf and hours whose seconds overflow a double
     * are VS_EINVAL. */
    double keep_checkpoint_every_n_hours;
    int busy_timeout_ms; /* wait for another writer; 0: 10000 ms */
    /* Progress. NULL: none. Called on the thread that
     * saves only (the calling thread; vs_async_save*: the saver's
     * background thread; never a compression thread) with the raw bytes
     * written so far and the total raw bytes of the tensors: at most once
     * per MiB (done < total), at least once per chunk of 1 MiB or more,
     * and once at the end, after the commit, with done == total. A failed
     * save may stop without that last call. */
    void (*progress)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
    void *progress_ctx;
    /* Solo saves. A save of 1 MiB to 1 GiB (raw
     * tensor bytes) into a WAL file that no other connection has open
     * runs "solo": in rollback-journal mode under an exclusive lock, so
     * its pages are written once instead of twice; the file is back in
     * WAL mode when the call returns. A reader that opens the file
     * meanwhile waits for the save (up to its busy timeout, 10 s) and
     * then reads the new checkpoint, instead of reading the previous one
     * at once; so must the progress callback, until its last call (which
     * comes after the lock is gone). Nonzero: never solo (readers never
     * wait; the save writes its pages twice). */
    int readers_never_wait;
} vs_save_opts;

VS_API VS_NODISCARD int vs_save_ex(vs_graph *g, const char *path, int64_t step,
                                   const vs_save_opts *opts);
/* Saves loose named tensors as checkpoint `step` (what the CLI imports),
 * with the same transaction, codec and retention as vs_save_ex (its
 * vars/keys fields are ignored). Every save (vs_save_ex too) reads each
 * chunk of the caller's bytes once, into memory of its own, before it
 * checksums, encodes and stores it: a tensor that another thread changes
 * during the save may hold values from before and after the change, but
 * the checkpoint stays whole (it loads and verifies). A save of more than
 * 2^47 bytes (128 TiB) in all is VS_EINVAL, before anything is written. */
VS_API VS_NODISCARD int vs_save_tensors(const char *path, int64_t step,
                                        const char *const *names,
                                        const vs_tensor *const *tensors, size_t n,
                                        const vs_save_opts *opts);

/* Where vs_save_stream gets the tensors' bytes: fills buf with bytes
 * [offset, offset + len) of tensor index (of names), as they would be in
 * memory (host byte order, C order). Returns VS_OK, or a VS_E* code that
 * stops the save (vs_save_stream returns it); a message written to err
 * (NUL-terminated, at most err_cap bytes) is part of the save's
 * vs_errmsg(). Called on the calling thread only, one call at a time,
 * with len at most a chunk (opts->chunk_bytes) and offset and len whole
 * elements; each byte is asked for once, one tensor after another (all
 * the reads of a tensor before the next tensor's first), a tensor's
 * ranges in increasing offset order; never for a tensor of no bytes. */
typedef int (*vs_read_fn)(void *ctx, size_t index, uint64_t offset,
                          void *buf, size_t len, char *err, size_t err_cap);
/* vs_save_tensors with the tensors' bytes read through `read` as the save
 * goes instead of held in memory: tensor i is names[i], of dtypes[i] and
 * shape shapes[i][0 .. ndims[i]) (shapes[i] may be NULL when ndims[i] is
 * 0). The save's own memory stays at a few chunks per compression thread,
 * whatever the tensors' sizes (`varstore save` imports files this way).
 * Names, shapes and options are checked before the first read. The
 * checkpoint is the one vs_save_tensors would write for the same bytes
 * (same chunks, deduplicated against the file the same way); a failed
 * read leaves the file's checkpoints as they were (a file the call
 * created holds none). */
VS_API VS_NODISCARD int vs_save_stream(const char *path, int64_t step,
                                       const char *const *names,
                                       const vs_dtype *dtypes,
                                       const int *ndims,
                                       const int64_t *const *shapes, size_t n,
                                       vs_read_fn read, void *ctx,
                                       const vs_save_opts *opts);
/** vs_save_stream for a read callback that is safe to call from any
 *  thread, several calls at once (a positional read: pread of a file):
 *  the save may then call it on its compression threads, each byte once,
 *  for several chunks at a time and in any order (a tensor's ranges, or
 *  the tensors, not in order), so that reading runs alongside the
 *  encoding and the writes instead of on the calling thread. It does so
 *  when the file holds no chunk yet (a first save, or one after every
 *  checkpoint went); into a file that holds chunks, the calling thread
 *  needs each chunk's bytes to look for a stored copy, and reads them
 *  itself, as vs_save_stream does. The checkpoint, the errors and the
 *  memory bound are vs_save_stream's. */
VS_API VS_NODISCARD int vs_save_stream_parallel(
    const char *path, int64_t step, const char *const *names,
    const vs_dtype *dtypes, const int *ndims, const int64_t *const *shapes,
    size_t n, vs_read_fn read, void *ctx, const vs_save_opts *opts);

/* ---- asynchronous saves ------------------------------------------------
 * A save that snapshots the tensors and returns, encoding and writing in
 * the background while the caller goes on (training). The call itself
 * checks everything it can, with the errors and TF wording of vs_save_ex
 * and vs_save_tensors (a bad argument, VS_EUNINIT, a key saved twice...:
 * returned at once, nothing started), and copies on the calling thread
 * everything the save reads: the tensors' bytes (a partitioned variable
 * gathered whole), the keys, the options and path, and for the graph form
 * the scope and variable definitions the checkpoint keeps. Once it
 * returns, the caller may change, vs_assign or free its tensors and
 * variables, or close the graph: the checkpoint holds the values as of
 * the call. That snapshot costs one copy of the saved bytes (as
 * torch.distributed.checkpoint.async_save does). The saver keeps that
 * memory when the save ends, until vs_async_free: its next save, if it
 * needs between half and all of it, copies into pages already touched
 * (500 MB blocked the caller 0.15-0.22 s into new memory, 0.03 s into
 * kept memory, in the scale bench on the 2-core development VM). What can only fail while writing (I/O, a busy file, a path that
 * is a directory, retention) is reported later: by vs_async_wait, by the
 * next save call, or by vs_async_free, on the thread that calls them,
 * with its message in that thread's vs_errmsg(). Errors are never lost:
 * a result stays until one of those calls reports it.
 * The progress callback (vs_save_opts.progress) runs on the background
 * thread, like every other step of the save after the snapshot; it may
 * not call its own saver back (vs_async_wait, a save call or
 * vs_async_free of that saver fail there with VS_EINVAL, and free frees
 * nothing: a save cannot wait for itself). */
#define VS_HAVE_ASYNC_SAVE 1

/* One background saver: at most one save in flight. Not thread-safe
 * itself: one thread at a time drives it. */
typedef struct vs_async vs_async;

/** A new saver with nothing in flight (VS_EINVAL for out NULL,
 *  VS_ENOMEM). Free it with vs_async_free. */
VS_API VS_NODISCARD int vs_async_new(vs_async **out);
/** vs_save_ex in the background. First waits for the save in flight: if
 *  that one failed (and its result was not reported yet), returns its
 *  error and message and starts nothing. Then the checks and snapshot of
 *  vs_save_ex (its errors, synchronously; VS_ENOMEM when the copy does
 *  not fit in memory) and the start of the background save (VS_ENOMEM or
 *  VS_ERROR when no thread can be started). VS_OK: the save is running;
 *  its result comes from vs_async_wait. VS_EINVAL for a NULL. */
VS_API VS_NODISCARD int vs_async_save(vs_async *a, vs_graph *g, const char *path,
                                      int64_t step, const vs_save_opts *opts);
/** vs_save_tensors in the background, as vs_async_save. */
VS_API VS_NODISCARD int vs_async_save_tensors(vs_async *a, const char *path,
                                              int64_t step,
                                              const char *const *names,
                                              const vs_tensor *const *tensors,
                                              size_t n, const vs_save_opts *opts);
/** vs_async_save_tensors without the copy: the saver borrows the caller's
 *  bytes and reads them on its thread while the save runs, so the call
 *  blocks only for the checks (and keeps no memory for a next save). Until
 *  the save is reported (vs_async_wait, the next save call of a, or
 *  vs_async_free returns), the tensors' bytes must stay allocated and
 *  unchanged: a change in that time leaves that checkpoint's values
 *  undefined (each chunk, read once, may hold values from before and
 *  after; the checkpoint still loads and verifies).
 *  The names and the vs_tensor structs themselves are copied: they may go
 *  at once. For a caller that writes its next values into other memory
 *  (double buffering), or whose tensors do not change (JAX arrays, which
 *  Orbax saves the same way). Errors as vs_async_save_tensors. */
VS_API VS_NODISCARD int vs_async_save_tensors_nocopy(
    vs_async *a, const char *path, int64_t step, const char *const *names,
    const vs_tensor *const *tensors, size_t n, const vs_save_opts *opts);
/** Blocks until the save in flight ends and returns its result (the codes
 *  of vs_save_ex: VS_EIO, VS_EBUSY, VS_EINVAL for a path that is not a
 *  checkpoint file...), with its message in this thread's vs_errmsg().
 *  A result is reported once: a second wait, or a wait with nothing in
 *  flight, returns VS_OK. VS_EINVAL for a NULL. */
VS_API VS_NODISCARD int vs_async_wait(vs_async *a);
/** Waits for the save in flight, frees a and returns the result not yet
 *  reported, as vs_async_wait (NULL: VS_OK). */
VS_API int vs_async_free(vs_async *a);

typedef struct {
    /* A subset: n_vars variables read from keys (NULL: op names). */
    vs_var *const *vars;
    const char *const *keys;
    size_t n_vars;
    const char *prefix; /* else: only global variables whose op name starts
                           with prefix; NULL: all global variables */
    int threads;        /* decompression threads; 0: all cores, or the
                           calling thread alone for at most 8 MiB */
    /* Progress, as in vs_save_opts, over the raw bytes
     * of the tensors read; the last call (done == total) comes once the
     * variables hold the restored values. Until then the variables being
     * restored are in flux: the callback may read the graph, but
     * vs_assign, an initializer or another restore of one that held no
     * value yet (it is being filled in place) fails with VS_EBUSY; one
     * that held a value may be assigned, and is then overwritten by the
     * restore. It must not close the graph. */
    void (*progress)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
    void *progress_ctx;
} vs_restore_opts;

VS_API VS_NODISCARD int vs_restore_ex(vs_graph *g, const char *path, int64_t step,
                                      const vs_restore_opts *opts);

typedef struct {
    int64_t step;
    char created_at[32];  /* ISO-8601 UTC */
    int64_t n_tensors;
    int64_t raw_bytes;    /* sum of the tensors' raw sizes */
    int64_t stored_bytes; /* sum of their stored chunk sizes */
} vs_ckpt_info;

/** The checkpoints of a file, oldest step first. *out is freed with
 *  vs_free (NULL when n is 0). */
VS_API VS_NODISCARD int vs_list_checkpoints(const char *path, vs_ckpt_info **out,
                                            size_t *n);
/** Deletes one checkpoint; chunks nothing else uses are freed, and their
 *  pages kept in the file for the next saves to reuse (vs_compact gives
 *  them back). Costs time in proportion to the rows deleted, not to the
 *  bytes. VS_ENOTFOUND if there is no such step. */
VS_API VS_NODISCARD int vs_delete_checkpoint(const char *path, int64_t step);
/** Keeps the newest `keep` checkpoints, deletes the rest (as
 *  vs_delete_checkpoint). */
VS_API VS_NODISCARD int vs_prune(const char *path, int keep);
/** Gives the file's free pages back to the file system, moving the pages
 *  after them: takes time in proportion to the bytes moved. *freed (may be
 *  NULL) gets the bytes the file shrank by. */
VS_API VS_NODISCARD int vs_compact(const char *path, int64_t *freed);

typedef struct {
    char *name; /* checkpoint key, "conv1/weights" */
    vs_dtype dtype;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    int64_t numel;
    int64_t raw_bytes, stored_bytes;
    char codec[16];  /* "raw", "shuffle-zlib", ... */
    uint32_t crc32;  /* of the raw bytes */
    int has_stats;   /* float tensors: min..n_inf are set */
    double min, max, mean, std;
    int64_t n_nan, n_inf;
} vs_tensor_info;

/** TF's list_variables: the tensors of checkpoint `step` (VS_LATEST: the
 *  newest), sorted by name. Free with vs_tensor_info_free. */
VS_API VS_NODISCARD int vs_list_variables(const char *path, int64_t step,
                                          vs_tensor_info **out, size_t *n);
VS_API void vs_tensor_info_free(vs_tensor_info *infos, size_t n);
/** TF's load_variable: reads one tensor (a trailing ":0" is stripped,
 *  unless a tensor is stored under that very key; the same holds for
 *  every name the vs_ckpt_* reads take),
 *  verifying its CRCs, without touching the rest. */
VS_API VS_NODISCARD int vs_load_variable(const char *path, int64_t step,
                                         const char *name, vs_tensor **out);
/** A read handle on a checkpoint file: one open for many reads, cheaper
 *  than calling vs_load_variable per tensor. Free with vs_ckpt_close.
 *  In a WAL file the handle keeps one consistent snapshot (as of
 *  vs_ckpt_open): saves that commit later are not seen until it is closed
 *  and opened again. In a rollback-journal file (VS_JOURNAL_ROLLBACK, new
 *  files) a held snapshot would keep every save from committing, so each
 *  call is its own read transaction and sees the file as of the call; a
 *  tensor read (vs_ckpt_load, _load_many, _load_into, _stream) reads the
 *  chunks in short transactions (about 4 MiB or 5 ms each) and returns
 *  the step as the call found it, or VS_ECHANGED if it was deleted or
 *  saved again meanwhile. To read one step through several calls, ask for
 *  it by number (vs_ckpt_latest first), not by VS_LATEST.
 *  An open does not wait for a save that is writing a rollback-journal
 *  file: it checks what it can without a lock (the file's header) and
 *  defers the rest (identity, schema version, tables) to the handle's
 *  first call, which waits for the file once and then reports their
 *  errors, with the code and message the open would have returned, as
 *  does every later call until they pass. So open, vs_ckpt_latest and
 *  close wait for one moment the file is free, not two. */
typedef struct vs_ckpt vs_ckpt;
VS_API VS_NODISCARD int vs_ckpt_open(const char *path, vs_ckpt **out);
VS_API void vs_ckpt_close(vs_ckpt *f);
/** vs_latest_checkpoint as the handle sees the file (its snapshot in a
 *  WAL file, the file now in a rollback-journal one). */
VS_API VS_NODISCARD int vs_ckpt_latest(vs_ckpt *f, int64_t *step);
/** vs_list_variables and vs_load_variable on an open handle. */
VS_API VS_NODISCARD int vs_ckpt_list_variables(vs_ckpt *f, int64_t step,
                                               vs_tensor_info **out, size_t *n);
VS_API VS_NODISCARD int vs_ckpt_load(vs_ckpt *f, int64_t step, const char *name,
                                     vs_tensor **out);
/** Reads n tensors of one step at once, decoding all their chunks on the
 *  thread pool (faster than n vs_ckpt_load calls for many small tensors).
 *  out[i] gets names[i]; on failure every out[i] is NULL. */
VS_API VS_NODISCARD int vs_ckpt_load_many(vs_ckpt *f, int64_t step,
                                          const char *const *names, size_t n,
                                          vs_tensor **out);
/** Reads n tensors of one step straight into the caller's memory: dst[i]
 *  receives tensor names[i] and must hold exactly its raw bytes
 *  (dst_bytes[i] = numel * element size, as vs_ckpt_list_variables gives;
 *  VS_EINVAL naming the tensor otherwise, before any byte is read).
 *  Chunks stored raw are read from the file straight into place and the
 *  others decoded into place, on `threads` threads (0: all cores, or
 *  the calling thread alone for at most 8 MiB in all), with every CRC
 *  checked: no copy in between (vs_ckpt_stream copies each
 *  chunk once more). A load of 4 MiB or more, with threads 0 on a
 *  machine of two cores or more (even when it decodes on the calling
 *  thread) or threads 2 or more, also has, on Linux, a helper thread
 *  make dst resident (MADV_POPULATE_WRITE,
 *  which leaves the bytes as they are) ahead of the reads, gone when the
 *  call returns; vs_ckpt_load_many's buffers likewise. On failure the
 *  buffers hold unspecified bytes. */
VS_API VS_NODISCARD int vs_ckpt_load_into(vs_ckpt *f, int64_t step,
                                          const char *const *names, size_t n,
                                          void *const *dst,
                                          const size_t *dst_bytes,
                                          int threads);
/** Where vs_ckpt_stream delivers tensors. Each
 *  callback returns 0 to go on; anything else (a VS_E* code) stops the
 *  stream, and vs_ckpt_stream returns that value. */
typedef struct {
    /* Tensor i (of names) is about to be delivered: on the calling thread,
     * in index order, before any write of it. May be NULL. */
    int (*begin)(void *ctx, size_t i);
    /* Bytes [offset, offset + len) of tensor i, as vs_ckpt_load would put
     * them in memory, one chunk (len <= its chunk_bytes) whose CRC was
     * checked. Called from the library's worker threads: concurrently,
     * also for the same tensor, chunks in any order, never overlapping.
     * data is valid only during the call. Required. */
    int (*write)(void *ctx, size_t i, uint64_t offset, const void *data,
                 size_t len);
    /* Every byte of tensor i was written and its whole CRC checked: on
     * the calling thread, once per tensor, in index order; a tensor of no
     * bytes gets begin and end and no write. May be NULL. */
    int (*end)(void *ctx, size_t i);
    void *ctx;
    int threads; /* decoding threads; 0: all cores */
    /* Callbacks may call the library (other loads, other handles), but
     * not on f: its connection is the calling thread's during the call. */
} vs_stream_sink;
/** Reads n tensors of one step into a sink instead
 *  of memory: each chunk is decoded into a buffer of the worker's own and
 *  handed to sink->write, so memory stays at a few chunks whatever the
 *  tensors' sizes (`varstore restore --npy` writes files this way).
 *  Names are checked and looked up first (VS_ENOTFOUND "Key %s not found
 *  in checkpoint"): no callback runs if one is missing. On a failure
 *  (damage: VS_ECORRUPT; a callback's value) every tensor before the
 *  failing one has had its end call; tensors that had begin and no end
 *  are incomplete, for the sink to discard (after a failing begin, no
 *  later tensor begins). */
VS_API VS_NODISCARD int vs_ckpt_stream(vs_ckpt *f, int64_t step,
                                       const char *const *names, size_t n,
                                       const vs_stream_sink *sink);
/** Checks the schema (and SQL the file may not hold: docs/FORMAT.md
 *  section 5), every chunk's CRC, and rows no read meets (negative
 *  steps, empty names, rows of no checkpoint, name or tensor).
 *  VS_ECORRUPT naming the first bad tensor, step or row; *n_bad (may be
 *  NULL) counts the bad tensors and kinds of bad rows. */
VS_API VS_NODISCARD int vs_verify(const char *path, size_t *n_bad);

/* Options of vs_verify_ex. */
typedef struct {
    int threads; /* decompression threads; 0: all cores */
    /* As in vs_save_opts, over the raw bytes of the file's stored chunks
     * (each shared chunk counts once); the last call (done == total) comes
     * once every chunk and tensor is checked, damage found or not. */
    void (*progress)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
    void *progress_ctx;
} vs_verify_opts;
/** vs_verify with options (NULL: as vs_verify). */
VS_API VS_NODISCARD int vs_verify_ex(const char *path, const vs_verify_opts *opts,
                                     size_t *n_bad);
/** Renames every tensor key starting with old_prefix to start with
 *  new_prefix, in checkpoint `step` or in all of them (VS_ALL_STEPS), in
 *  one transaction. VS_EEXIST if a new key would collide. */
#define VS_ALL_STEPS (-2)
VS_API VS_NODISCARD int vs_rename_prefix(const char *path, const char *old_prefix,
                                         const char *new_prefix, int64_t step);
/** The file's retention setting, used by saves whose opts are NULL or
 *  leave max_to_keep / keep_checkpoint_every_n_hours 0: TF Saver's
 *  max_to_keep (0 or VS_KEEP_ALL: keep all) and
 *  keep_checkpoint_every_n_hours (0: off). Creates the file if missing.
 *  VS_EINVAL, the file untouched, for another negative max_to_keep, and
 *  for hours that are NaN, infinite, negative, or so large that their
 *  seconds are (above DBL_MAX / 3600). */
VS_API VS_NODISCARD int vs_set_retention(const char *path, int max_to_keep,
                                         double keep_checkpoint_every_n_hours);

/** How a file commits its saves, kept in the file.
 *  VS_JOURNAL_ROLLBACK (new files): a save writes each page once (a large
 *  one as its chunks come). A save of more than 32 MiB commits its chunks
 *  in batches of about 32 MiB and its checkpoint last, so a reader waits
 *  at most for one batch being written, and never sees a partial
 *  checkpoint. A save waits for read transactions in progress to end: a
 *  restore or load holds one for at most about 5 ms at a time, and an
 *  open vs_ckpt none between its calls. One file at rest, also on
 *  network file systems.
 *  VS_JOURNAL_WAL (chosen): readers read while a save writes, and an open
 *  vs_ckpt keeps its snapshot; but each save writes its pages twice (to
 *  the -wal file, then into the file), except a save of 1 MiB to 1 GiB
 *  made while no other connection has the file open, which takes the file
 *  to itself (a reader that opens it meanwhile waits for it) and writes
 *  them once. Both are durable at VS_OK and crash safe. Files of schema
 *  version 2 and older are WAL files: their first write transaction (the
 *  upgrade to version 3) declares the rollback journal, which the next
 *  writer that has the file to itself switches to; vs_set_journal_mode
 *  upgrades the file before it declares the mode asked for.
 *  vs_set_journal_mode creates the file if missing; VS_EBUSY when another
 *  connection has it open. */
typedef enum { VS_JOURNAL_WAL = 0, VS_JOURNAL_ROLLBACK = 1 } vs_journal;
VS_API VS_NODISCARD int vs_set_journal_mode(const char *path, vs_journal mode);
VS_API VS_NODISCARD int vs_get_journal_mode(const char *path, vs_journal *mode);

/* ---- TensorFlow checkpoints ---- */
/* TensorFlow's own checkpoints (TensorBundle V2: "<prefix>.index" and
 * "<prefix>.data-NNNNN-of-MMMMM"), read and written bit-exact.
 * prefix_or_dir may be the prefix ("dir/model.ckpt-100"), its ".index"
 * file, a folder holding TF's `checkpoint` state file (its
 * model_checkpoint_path, relative or absolute), that state file itself, or
 * a SavedModel folder (its variables/variables). Every CRC32C is checked;
 * a damaged file is VS_ECORRUPT naming it, with TF's words where TF has
 * some ("Checksum does not match: ...", "Does not have sufficient slices
 * for partitioned tensor ...", "Overlapping slices: ..."); a missing data
 * file is VS_ENOTFOUND "<file>; No such file or directory" and one that
 * is not a regular file VS_EIO; a path that names no
 * checkpoint is VS_ENOTFOUND with TF's "Unsuccessful TensorSliceReader
 * constructor: Failed to find any matching files for <path>". */

/** 1 when path names a TensorFlow checkpoint in one of the forms above,
 *  else 0 (a varstore file, a missing path). Never fails. */
VS_API int vs_tf_is_checkpoint(const char *path);
/** TF's tf.train.list_variables: name, dtype and shape of every tensor
 *  (a partitioned variable once, under its full name), sorted by name;
 *  raw_bytes = stored_bytes, codec "tf-bundle", crc32 0 and no stats.
 *  Tensors of dtypes varstore lacks (string, resource, ...) are left out.
 *  Unlike TF, each listed tensor's declared size is checked against the
 *  data file holding it (stat only, nothing read), so that what a caller
 *  allocates from the listing the data can fill: VS_ECORRUPT with TF's
 *  "Invalid size in bundle entry" or "Read less bytes than requested"
 *  otherwise. Free with vs_tensor_info_free. */
VS_API VS_NODISCARD int vs_tf_list_variables(const char *prefix_or_dir,
                                             vs_tensor_info **out, size_t *n);
/** TF's tf.train.load_variable: one tensor (a trailing ":0" is stripped
 *  unless a tensor has that very name); partitioned variables are
 *  assembled from their slices. VS_ENOTFOUND "Key foo/v not found in
 *  checkpoint"; VS_EDTYPE naming the tensor and its dtype for a dtype
 *  varstore lacks. Free with vs_tensor_free. */
VS_API VS_NODISCARD int vs_tf_load_variable(const char *prefix_or_dir,
                                            const char *name, vs_tensor **out);
/** Writes n tensors as a TF checkpoint at prefix ("dir/model.ckpt"; dir
 *  must exist): one data shard, the index, and dir/checkpoint naming it
 *  (replaced). Names must be unique and non-empty. Atomic: temporary files
 *  in dir, fsynced and renamed into place; on failure nothing written by
 *  the call remains. A varstore (SQLite) file at one of the three names
 *  (a store called dir/checkpoint) is never replaced: VS_EEXIST, and a
 *  folder there VS_EIO, before anything is written. TF reads it with tf.train.load_checkpoint and
 *  tf.compat.v1.train.Saver.restore. */
VS_API VS_NODISCARD int vs_tf_write_checkpoint(const char *prefix,
                                               const char *const *names,
                                               const vs_tensor *const *tensors,
                                               size_t n);
/* ---- end TensorFlow checkpoints ---- */

#ifdef __cplusplus
}
#endif

#endif /* VARSTORE_H */
