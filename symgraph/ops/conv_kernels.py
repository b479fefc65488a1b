"""The numpy kernels of the conv2d family: im2col, one GEMM per group, col2im.

Every op of the family (conv.py, conv_grad.py) is one GEMM whose inner dimension runs over the
whole batch: the columns are laid out (groups, C/G * kh * kw, N * P), P columns per image, so
a layer is a single large BLAS call rather than N small ones (numpy's batched matmul over
images ran up to 4x slower here with two BLAS threads).

Two layouts of the P columns of an image:

- compact: P = oh * ow, one column per output pixel (any stride). The unfold copies runs of
  ow elements.
- wide (stride 1 only): P = (oh - 1) * Wp + ow, the pixel (y, x) at column y * Wp + x of the
  padded image's flattened rows, so that filter tap (i, j) is one contiguous run of the
  image starting at i * dh * Wp + j * dw. The unfold copies runs of P elements (about 5x
  faster than the compact one for a 13x13 image); the Wp - ow columns between output rows are
  computed and dropped (the GEMM does Wp / ow more work: about 15% at 13x13 with 3x3 taps).
  In the gradients those columns meet zeros of the output gradient, which is only exact when
  the other operand is finite: a non-finite image (gradWeights) or filter (gradInputs) takes
  the compact layout.

The fold back (col2im) is one strided add per filter tap over the whole batch, never a loop
over pixels.

Every array a kernel writes comes from ``alloc(slot, shape, dtype)``: `np.empty` for the ops'
`perform`; buffers reused across calls in the native backend (codegen/conv_calls.py), since
writing freshly mapped pages made a layer several times slower on the development machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

Alloc = Callable[[str, tuple, np.dtype], np.ndarray]

# The wide layout pays (Wp - ow) / Wp of its GEMM on dropped columns: beyond a third of them,
# the compact unfold's slower copy is the cheaper cost.
MAX_WIDE_WASTE = 1 / 3


def fresh(slot: str, shape: tuple, dtype) -> np.ndarray:
    """The allocator of `perform`: a new array each time."""
    return np.empty(shape, dtype)


def zeros(alloc: Alloc, slot: str, shape: tuple, dtype) -> np.ndarray:
    out = alloc(slot, shape, dtype)
    out.fill(0)
    return out


def padded(x: np.ndarray, pads: tuple, hw: tuple | None = None, alloc: Alloc = fresh):
    """`x` zero-padded by ((top, bottom), (left, right)), at least `hw` in size, C-contiguous."""
    (pt, pb), (pl, pr) = pads
    n, c, h, w = x.shape
    hp, wp = h + pt + pb, w + pl + pr
    if hw is not None:
        hp, wp = max(hp, hw[0]), max(wp, hw[1])
    if (hp, wp) == (h, w) and x.flags.c_contiguous:
        return x
    out = alloc("padded", (n, c, hp, wp), x.dtype)
    if (hp, wp) != (h, w):  # only the border is zeroed: the image is written once
        out[:, :, :pt] = 0
        out[:, :, pt + h :] = 0
        out[:, :, pt : pt + h, :pl] = 0
        out[:, :, pt : pt + h, pl + w :] = 0
    out[:, :, pt : pt + h, pl : pl + w] = x
    return out


def reach(op, k: int, out: int, axis: int) -> int:
    """Rows (axis 0) or columns (axis 1) of the padded image that `out` outputs read."""
    return (out - 1) * op.subsample[axis] + (k - 1) * op.filter_dilation[axis] + 1


def use_wide(op, wp: int, ow: int) -> bool:
    """Whether the wide layout applies (stride 1) and wastes little (see MAX_WIDE_WASTE)."""
    return op.subsample == (1, 1) and (wp - ow) <= MAX_WIDE_WASTE * wp


def columns_per_image(oh: int, ow: int, wp: int, wide: bool) -> int:
    return (oh - 1) * wp + ow if wide else oh * ow


def windows(op, xp: np.ndarray, kh: int, kw: int, oh: int, ow: int, wide: bool, writeable=False):
    """(G, C/G, kh, kw, N, *grid) strided view of the padded image xp: element (.., i, j, n, p)
    is the pixel filter tap (i, j) meets at column p; grid is (P,) wide, (oh, ow) compact."""
    n, c, _, wp = xp.shape
    g = op.num_groups
    (sh, sw), (dh, dw) = op.subsample, op.filter_dilation
    sn, sc, sy, sx = xp.strides
    if wide:
        grid, steps = (columns_per_image(oh, ow, wp, True),), (sx,)
    else:
        grid, steps = (oh, ow), (sh * sy, sw * sx)
    shape = (g, c // g, kh, kw, n) + grid
    strides = (c // g * sc, sc, dh * sy, dw * sx, sn) + steps
    return as_strided(xp, shape, strides, writeable=writeable)


def im2col(op, xp, kh: int, kw: int, oh: int, ow: int, wide: bool, alloc: Alloc = fresh):
    """(G, C/G * kh * kw, N * P) columns of the padded image: one copy of its windows."""
    view = windows(op, xp, kh, kw, oh, ow, wide)
    g, cg, n = view.shape[0], view.shape[1], view.shape[4]
    cols = alloc("cols", (g, cg * kh * kw, n * int(np.prod(view.shape[5:]))), xp.dtype)
    np.copyto(cols.reshape(view.shape), view)
    return cols


def col2im(op, cols, xp_shape: tuple, kh, kw, oh, ow, wide, slot: str, alloc: Alloc = fresh):
    """The adjoint of im2col: (G, C/G * kh * kw, N * P) columns summed onto a padded image."""
    out = zeros(alloc, slot, xp_shape, cols.dtype)
    view = windows(op, out, kh, kw, oh, ow, wide, writeable=True)
    cols = cols.reshape(view.shape)
    for i in range(kh):  # one strided add per filter tap; a tap's view never overlaps itself
        for j in range(kw):
            view[:, :, i, j] += cols[:, :, i, j]
    return out


def to_columns(y: np.ndarray, g: int, wp: int, wide: bool, alloc: Alloc = fresh) -> np.ndarray:
    """(N, O, oh, ow) -> (G, O/G, N * P) in the column layout, zero in the dropped columns."""
    n, o, oh, ow = y.shape
    shape = (g, o // g, n * columns_per_image(oh, ow, wp, wide))
    out = zeros(alloc, "ycols", shape, y.dtype) if wide else alloc("ycols", shape, y.dtype)
    from_columns(out, n, oh, ow, wp, wide)[...] = y
    return out


def from_columns(cols: np.ndarray, n: int, oh: int, ow: int, wp: int, wide: bool) -> np.ndarray:
    """(G, O/G, N * P) -> (N, O, oh, ow) strided view (the inverse of to_columns)."""
    g, og, _ = cols.shape
    p = columns_per_image(oh, ow, wp, wide)
    item = cols.itemsize
    row = wp if wide else ow
    return as_strided(cols, (n, g * og, oh, ow), (p * item, n * p * item, row * item, item))


def matmul_groups(a: np.ndarray, b: np.ndarray, alloc: Alloc = fresh) -> np.ndarray:
    """(G, M, K) @ (G, K, N) as one 2-d BLAS call per group (either operand may be transposed),
    in the BLAS of the compiled functions' products (codegen/cblas.py)."""
    from symgraph.codegen.cblas import matmul_into

    out = alloc("product", (a.shape[0], a.shape[1], b.shape[2]), np.result_type(a, b))
    for k in range(a.shape[0]):
        matmul_into(a[k], b[k], out[k])
    return out


def filters_matrix(op, w: np.ndarray) -> np.ndarray:
    """OIHW filters as the (G, O/G, C/G * kh * kw) matrix the cross-correlation uses."""
    o = w.shape[0]
    g = op.num_groups
    return np.ascontiguousarray(op.flipped(w)).reshape(g, o // g, -1)


# --- the three ops ------------------------------------------------------------------------------


def conv_forward(op, x, w, oh: int, ow: int, wide=None, alloc: Alloc = fresh) -> np.ndarray:
    """conv2d(x, w) as (G, O/G, K) @ (G, K, N * P); `wide` None picks the layout."""
    kh, kw = w.shape[2:]
    xp = padded(x, op.pads(kh, kw), alloc=alloc)
    wp = xp.shape[3]
    wide = use_wide(op, wp, ow) if wide is None else wide
    cols = im2col(op, xp, kh, kw, oh, ow, wide, alloc)
    product = matmul_groups(filters_matrix(op, w), cols, alloc)
    out = alloc("out", (x.shape[0], w.shape[0], oh, ow), product.dtype)
    np.copyto(out, from_columns(product, x.shape[0], oh, ow, wp, wide))
    return out


def conv_grad_inputs(op, w, gy, h: int, wd: int, wide=None, alloc: Alloc = fresh) -> np.ndarray:
    """The adjoint of x -> conv2d(x, w) at gy: col2im of (G, K, O/G) @ (G, O/G, N * P)."""
    n, _, oh, ow = gy.shape
    kh, kw = w.shape[2:]
    (pt, pb), (pl, pr) = op.pads(kh, kw)
    hp = max(h + pt + pb, reach(op, kh, oh, 0))
    wp = max(wd + pl + pr, reach(op, kw, ow, 1))
    if wide is None:
        wide = use_wide(op, wp, ow) and bool(np.isfinite(w).all())
    g = op.num_groups
    wk = filters_matrix(op, w).transpose(0, 2, 1)
    cols = matmul_groups(wk, to_columns(gy, g, wp, wide, alloc), alloc)
    c = g * w.shape[1]
    cropped = (hp, wp) != (h, wd)
    gx = col2im(
        op, cols, (n, c, hp, wp), kh, kw, oh, ow, wide, "image" if cropped else "out", alloc
    )
    if not cropped:
        return gx
    out = alloc("out", (n, c, h, wd), gx.dtype)
    np.copyto(out, gx[:, :, pt : pt + h, pl : pl + wd])
    return out


def conv_grad_weights(op, x, gy, kh: int, kw: int, wide=None, alloc: Alloc = fresh):
    """The adjoint of w -> conv2d(x, w) at gy: (G, O/G, N * P) @ (G, N * P, K)."""
    o, oh, ow = gy.shape[1:]
    xp = padded(x, op.pads(kh, kw), alloc=alloc)
    wp = xp.shape[3]
    if wide is None:
        wide = use_wide(op, wp, ow) and bool(np.isfinite(x).all())
    g = op.num_groups
    cols = im2col(op, xp, kh, kw, oh, ow, wide, alloc)
    dw = matmul_groups(to_columns(gy, g, wp, wide, alloc), cols.transpose(0, 2, 1), alloc)
    dw = dw.reshape(o, x.shape[1] // g, kh, kw)
    return np.ascontiguousarray(op.flipped(dw))
