/* The Python entry point of the C kernels (codegen/c.py builds this once per machine).
 *
 * Every kernel is a builtin function whose `self` is the tuple
 *
 *     (numpy.ndarray, address of the kernel's sg_kernel_info, dtype of operand 0, ...)
 *
 * and whose C function is `sg_entry`, with the protocol of the LLVM entry points
 * (codegen/llvm_entry.py), so the native driver (codegen/program.py) calls both alike:
 *
 *     call(*inputs, *outputs[, part, nparts]) -> 0 | 1 | 2 | 3
 *
 * 0: done (slice `part` of `nparts` equal slices of axis 0, when given);
 * 1: an operand is not a plain aligned ndarray of the kernel's dtype and rank, or an output is
 *    not writeable (a reduction's output not C-contiguous): the caller normalizes, calls again;
 * 2: the shapes do not fit together (or max / min meets an empty axis): the caller raises the
 *    error of the numpy reference;
 * 3: called without a slice, and the work is large enough to split across threads.
 *
 * Types and dtypes are compared by identity, as the LLVM entry points do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/ndarraytypes.h>

#include "c_kernel.h"

#define SG_MAXDIMS 64 /* numpy's NPY_MAXDIMS */
#define SG_MAXOPS 64

static PyObject *sg_code(long code) { return PyLong_FromLong(code); }

/* [n * part / nparts, n * (part + 1) / nparts) */
static void sg_split(int64_t n, int64_t part, int64_t nparts, int64_t *lo, int64_t *hi)
{
    *lo = n * part / nparts;
    *hi = n * (part + 1) / nparts;
}

/* The stride of operand `a` on `axis` in elements; 0 where the size is 1 (broadcast or not). */
static int64_t sg_elem_stride(PyArrayObject *a, int axis, int64_t itemsize)
{
    if (PyArray_DIMS(a)[axis] == 1) return 0;
    return (int64_t)PyArray_STRIDES(a)[axis] / itemsize;
}

/* Run `call` without the GIL when it is long enough to be worth the hand-off: slices of one
 * kernel then run in parallel on the driver's threads. */
#define SG_RUN(info, work, call)                                                               \
    do {                                                                                       \
        if ((work) >= (info)->gil_release_min) {                                               \
            Py_BEGIN_ALLOW_THREADS call;                                                       \
            Py_END_ALLOW_THREADS                                                               \
        } else {                                                                               \
            call;                                                                              \
        }                                                                                      \
    } while (0)

static PyObject *sg_elemwise(const sg_kernel_info *info, PyArrayObject **ops, int64_t part,
                             int64_t nparts, int with_parts)
{
    const int nin = info->nin, nops = info->nin + info->nout, nd = info->ndim;
    int64_t shape[SG_MAXDIMS], strides[SG_MAXOPS * SG_MAXDIMS];
    char *data[SG_MAXOPS];
    int64_t n = 1;
    for (int d = 0; d < nd; d++) { /* the first output defines the shape */
        shape[d] = PyArray_DIMS(ops[nin])[d];
        n *= shape[d];
    }
    for (int k = 0; k < nops; k++) {
        for (int d = 0; d < nd; d++) {
            const int64_t want = (k < nin && info->bcast[k * nd + d]) ? 1 : shape[d];
            if (PyArray_DIMS(ops[k])[d] != want) return sg_code(2);
        }
        data[k] = PyArray_DATA(ops[k]);
    }
    for (int d = 0; d < nd; d++) { /* an axis every input broadcasts has size 1 */
        int all = 1;
        for (int k = 0; k < nin; k++) all &= info->bcast[k * nd + d];
        if (all && shape[d] != 1) return sg_code(2);
    }
    if (nd > 0 && n >= info->parallel_min && !with_parts) return sg_code(3);
    int contiguous = 1;
    for (int k = 0; k < nops; k++) {
        if (k < nin && info->scalar[k]) continue; /* read once, anywhere */
        contiguous &= (PyArray_FLAGS(ops[k]) & NPY_ARRAY_C_CONTIGUOUS) != 0;
        for (int d = 0; d < nd; d++) /* a row broadcast down a matrix is not one range */
            if (k < nin && info->bcast[k * nd + d]) contiguous &= shape[d] == 1;
    }
    int64_t lo, hi;
    if (contiguous) {
        sg_split(n, part, nparts, &lo, &hi);
        SG_RUN(info, hi - lo, info->flat(lo, hi, data));
        return sg_code(0);
    }
    for (int k = 0; k < nops; k++)
        for (int d = 0; d < nd; d++)
            strides[k * nd + d] = sg_elem_stride(ops[k], d, info->itemsize[k]);
    const int64_t rows = nd ? shape[0] : 1;
    sg_split(rows, part, nparts, &lo, &hi);
    const int64_t work = rows > 0 ? n / rows * (hi - lo) : 0;
    SG_RUN(info, work, info->strided(lo, hi, shape, data, strides));
    return sg_code(0);
}

static PyObject *sg_reduce(const sg_kernel_info *info, PyArrayObject **ops, int64_t part,
                           int64_t nparts, int with_parts)
{
    const int nd = info->ndim, nin = info->nin;
    PyArrayObject *out = ops[nin];
    int64_t shape[SG_MAXDIMS], strides[SG_MAXOPS * SG_MAXDIMS];
    char *data[SG_MAXOPS];
    int64_t total = 1, out_size = 1;
    int m = 0;
    for (int a = 0; a < nd; a++) { /* the loop shape: the inputs' broadcast shape */
        shape[a] = -1;
        for (int k = 0; k < nin; k++) {
            const int64_t size = PyArray_DIMS(ops[k])[a];
            if (info->bcast[k * nd + a]) {
                if (size != 1) return sg_code(2);
            } else if (shape[a] < 0) {
                shape[a] = size;
            } else if (size != shape[a]) {
                return sg_code(2);
            }
        }
        if (shape[a] < 0) shape[a] = 1;
        total *= shape[a];
        for (int k = 0; k < nin; k++)
            strides[k * nd + a] = sg_elem_stride(ops[k], a, info->itemsize[k]);
        if (info->reduced[a]) {
            if (info->empty_is_error && shape[a] == 0) return sg_code(2); /* max of nothing */
            strides[nin * nd + a] = 0;
        } else {
            if (PyArray_DIMS(out)[m] != shape[a]) return sg_code(2);
            strides[nin * nd + a] = sg_elem_stride(out, m, info->itemsize[nin]);
            out_size *= shape[a];
            m++;
        }
    }
    /* a slice of axis 0 owns its rows of the output only when axis 0 is kept */
    if (nparts != 1 && info->reduced[0]) return sg_code(2);
    if (!info->reduced[0] && total >= info->parallel_min && !with_parts) return sg_code(3);
    for (int k = 0; k <= nin; k++) data[k] = PyArray_DATA(ops[k]);
    int64_t lo, hi;
    sg_split(shape[0], part, nparts, &lo, &hi);
    if (!info->reduced[0]) { /* the output is C-contiguous: this slice's rows are one range */
        const int64_t inner = shape[0] > 0 ? out_size / shape[0] : 0;
        info->init_output(data[nin], lo * inner, hi * inner);
    } else {
        info->init_output(data[nin], 0, out_size);
    }
    const int64_t work = shape[0] > 0 ? total / shape[0] * (hi - lo) : 0;
    SG_RUN(info, work, info->strided(lo, hi, shape, data, strides));
    return sg_code(0);
}

PyObject *sg_entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    const sg_kernel_info *info = PyLong_AsVoidPtr(PyTuple_GET_ITEM(self, 1));
    const int nin = info->nin, nops = info->nin + info->nout;
    const int with_parts = nargs == nops + 2;
    int64_t part = 0, nparts = 1;
    if (nargs != nops && !with_parts) return sg_code(1);
    if (with_parts) {
        part = PyLong_AsLongLong(args[nops]);
        nparts = PyLong_AsLongLong(args[nops + 1]);
        if (PyErr_Occurred()) {
            PyErr_Clear();
            return sg_code(1);
        }
    }
    if (part < 0 || part >= nparts) return sg_code(1);
    PyObject *ndarray = PyTuple_GET_ITEM(self, 0);
    PyArrayObject *ops[SG_MAXOPS];
    for (int k = 0; k < nops; k++) {
        PyObject *obj = args[k];
        const int output = k >= nin;
        const int rank = (output && info->reduce) ? info->ndim - info->naxes : info->ndim;
        int need = NPY_ARRAY_ALIGNED;
        if (output) need |= NPY_ARRAY_WRITEABLE | (info->reduce ? NPY_ARRAY_C_CONTIGUOUS : 0);
        if ((PyObject *)Py_TYPE(obj) != ndarray) return sg_code(1);
        ops[k] = (PyArrayObject *)obj;
        if ((PyObject *)PyArray_DESCR(ops[k]) != PyTuple_GET_ITEM(self, 2 + k)) return sg_code(1);
        if (PyArray_NDIM(ops[k]) != rank) return sg_code(1);
        if ((PyArray_FLAGS(ops[k]) & need) != need) return sg_code(1);
    }
    if (info->reduce) return sg_reduce(info, ops, part, nparts, with_parts);
    return sg_elemwise(info, ops, part, nparts, with_parts);
}
