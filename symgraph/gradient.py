"""Symbolic differentiation: grad, Lop, Rop, jacobian, hessian, and verify_grad.

`grad` is a reverse walk: it finds the nodes on a path from the cost to `wrt`, visits them
in reverse topological order, asks each op for its `L_op`, and sums the contributions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from symgraph.config import config
from symgraph.graph import Apply, Op, Variable, toposort
from symgraph.types import DISCRETE_DTYPES, TensorType
from symgraph.variable import as_tensor_variable


class DisconnectedInputError(ValueError):
    """grad was asked for the gradient with respect to a variable the cost does not depend on."""


class NullTypeGradError(TypeError):
    """A gradient that is mathematically undefined was needed."""


class GradientError(AssertionError):
    """verify_grad found a symbolic gradient that disagrees with finite differences."""

    def __init__(
        self,
        arg: int,
        abs_err: float,
        rel_err: float,
        abs_tol: float,
        rel_tol: float,
        analytic=None,
        numeric=None,
    ):
        super().__init__(
            f"GradientError: the gradient of input {arg} disagrees with finite differences: "
            f"max abs error {abs_err:.3g} (tol {abs_tol:g}), max rel error {rel_err:.3g} "
            f"(tol {rel_tol:g})"
        )
        self.arg, self.abs_err, self.rel_err = arg, abs_err, rel_err
        self.analytic, self.numeric = analytic, numeric


class _IdentityForward(Op):
    """An op that passes its input through unchanged; subclasses say what its gradient is."""

    view_map = {0: [0]}

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        return [inputs[0]]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


@dataclass(frozen=True)
class GradientStop(_IdentityForward):
    """Identity in the forward pass; its gradient is zero ('zero') or absent ('disconnected')."""

    mode: str = "zero"

    def __str__(self) -> str:
        return {"zero": "ZeroGrad", "disconnected": "DisconnectedGrad"}[self.mode]

    def L_op(self, inputs, outputs, output_grads):
        from symgraph.ops.math import zeros_like

        return [zeros_like(inputs[0]) if self.mode == "zero" else None]


def zero_grad(x):
    """`x`, through which the gradient is zero."""
    return GradientStop("zero")(x)


def disconnected_grad(x):
    """`x`, through which no gradient flows (the graph behind it counts as disconnected)."""
    return GradientStop("disconnected")(x)


consider_constant = zero_grad


@dataclass(frozen=True)
class GradClip(_IdentityForward):
    """Identity in the forward pass; the gradient flowing back is clipped to [lower, upper]."""

    lower: float
    upper: float

    def L_op(self, inputs, outputs, output_grads):
        from symgraph.ops.math import clip

        return [clip(output_grads[0], self.lower, self.upper)]


def grad_clip(x, lower_bound, upper_bound):
    """`x`, whose gradient is clipped elementwise to [lower_bound, upper_bound] (Theano's).

    Examples
    --------
    >>> import symgraph as sg, symgraph.tensor as T
    >>> x = T.dscalar("x")
    >>> float(sg.grad(grad_clip(x, -1.0, 1.0) ** 2, x).eval({x: 3.0}))
    1.0
    """
    lower, upper = float(lower_bound), float(upper_bound)
    if upper < lower:
        raise ValueError(f"grad_clip: upper_bound {upper} is below lower_bound {lower}")
    return GradClip(lower, upper)(x)


@dataclass(frozen=True)
class GradScale(_IdentityForward):
    """Identity in the forward pass; the gradient flowing back is multiplied by `multiplier`."""

    multiplier: float

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0] * self.multiplier]


def grad_scale(x, multiplier):
    """`x`, whose gradient is multiplied by `multiplier` (Theano's grad_scale)."""
    return GradScale(float(multiplier))(x)


def _as_list(x) -> tuple[list, bool]:
    if isinstance(x, (list, tuple)):
        return list(x), True
    return [x], False


def _float_ones_like(cost: Variable) -> Variable:
    from symgraph.ops.math import ones_like

    dtype = cost.dtype if cost.dtype not in DISCRETE_DTYPES else config.floatX
    return ones_like(cost, dtype=dtype)


def grad(
    cost,
    wrt,
    consider_constant=None,
    disconnected_inputs: str = "raise",
    add_names: bool = True,
    known_grads=None,
    return_disconnected: str = "zero",
    null_gradients: str = "raise",
):
    """Gradient of the scalar `cost` with respect to `wrt` (a variable or a list of them).

    Parameters
    ----------
    cost : scalar Variable, or None when `known_grads` gives the starting gradients.
    wrt : Variable or list of Variables.
    consider_constant : variables through which no gradient is propagated.
    disconnected_inputs : 'raise', 'warn' or 'ignore' when the cost does not depend on a `wrt`.
    known_grads : {variable: gradient} to start from (added to the cost's gradient).

    Examples
    --------
    >>> import symgraph as sg, symgraph.tensor as T
    >>> x = T.dscalar("x")
    >>> g = sg.grad(x ** 2, x)
    >>> float(g.eval({x: 3.0}))
    6.0
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_inputs must be 'raise', 'warn' or 'ignore'")
    wrt_list, as_list = _as_list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must be symbolic variables, got {type(w).__name__}")
    seeds: dict[Variable, list[Variable]] = {}
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise TypeError(
                f"grad: the cost {cost}{cost.where()} must be a scalar, but it has "
                f"{cost.ndim} dimensions (type {cost.type}). Reduce it first, e.g. cost.sum() "
                "or cost.mean(), or use Lop/jacobian for non-scalar outputs."
            )
        seeds[cost] = [_float_ones_like(cost)]
    elif not known_grads:
        raise ValueError("grad: give a cost or known_grads")
    for var, g in (known_grads or {}).items():
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ValueError(
                f"known_grads: gradient for {var} has {g.ndim} dims, expected {var.ndim}"
            )
        seeds.setdefault(var, []).append(g)
    constants = set(consider_constant or ())
    order = toposort(list(seeds), stop=constants)
    depends = set(wrt_list)
    for node in order:
        if any(i in depends and i not in constants for i in node.inputs):
            depends.update(node.outputs)
    contributions = seeds
    for node in reversed(order):
        needed = [i in depends and i not in constants for i in node.inputs]
        if not any(needed) or not any(o in contributions for o in node.outputs):
            continue
        output_grads = [_total(contributions.get(o)) for o in node.outputs]
        output_grads = [
            g if g is not None else _zeros_for(o) for g, o in zip(output_grads, node.outputs)
        ]
        input_grads = _call_l_op(node, output_grads, needed)
        for inp, g, need in zip(node.inputs, input_grads, needed):
            if need and g is not None:
                contributions.setdefault(inp, []).append(_conform(g, inp, node))
    results = []
    for w in wrt_list:
        total = _total(contributions.get(w))
        if total is None and w.dtype in DISCRETE_DTYPES and any(w in n.inputs for n in order):
            total = _zeros_for(w)  # integers are connected but have a zero gradient (Theano)
        if total is None:
            total = _disconnected(w, disconnected_inputs, return_disconnected)
        elif w.dtype in DISCRETE_DTYPES:
            from symgraph.ops.math import zeros_like

            total = zeros_like(w, dtype=config.floatX)
        if add_names and total is not None and cost is not None and cost.name and w.name:
            total.name = f"(d{cost.name}/d{w.name})"
        results.append(total)
    return results if as_list else results[0]


def _total(grads: list | None):
    if not grads:
        return None
    if len(grads) == 1:
        return grads[0]
    from symgraph.ops.math import add

    return add(*grads)


def _zeros_for(v: Variable):
    from symgraph.ops.math import zeros_like

    return zeros_like(v, dtype=v.dtype if v.dtype not in DISCRETE_DTYPES else config.floatX)


def _call_l_op(node: Apply, output_grads: list, needed: list) -> list:
    try:
        grads = node.op.L_op(list(node.inputs), list(node.outputs), output_grads)
    except NotImplementedError as exc:
        origin = node.outputs[0]
        wanted = ", ".join(str(i) for i, n in zip(node.inputs, needed) if n)
        raise NotImplementedError(
            f"grad: the operation {node.op} has no gradient (needed with respect to its inputs "
            f"{wanted}); it was used at {origin.trace or 'an unknown line'}. ({exc})"
        ) from exc
    if len(grads) != len(node.inputs):
        raise ValueError(f"{node.op}.L_op returned {len(grads)} gradients for {node.nin} inputs")
    return list(grads)


def _conform(g, inp: Variable, node: Apply):
    """Check a gradient's rank against its input's and give it the input's float dtype."""
    g = as_tensor_variable(g)
    if g.ndim != inp.ndim:
        raise ValueError(
            f"{node.op}.L_op returned a gradient with {g.ndim} dimensions for an input with "
            f"{inp.ndim} ({inp}{inp.where()})"
        )
    if g.dtype != inp.dtype and inp.dtype not in DISCRETE_DTYPES:
        from symgraph.ops.math import cast

        g = cast(g, inp.dtype)
    return g


def _disconnected(w: Variable, policy: str, return_disconnected: str):
    msg = (
        f"grad method was asked to compute the gradient with respect to a variable that is "
        f"not part of the computational graph of the cost, or is used only by a "
        f"non-differentiable operator: {w.name or w}{w.where()}"
    )
    if policy == "raise":
        raise DisconnectedInputError(msg)
    if policy == "warn":
        warnings.warn(msg, stacklevel=3)
    if return_disconnected == "None":
        return None
    from symgraph.ops.math import zeros_like

    return zeros_like(w, dtype=w.dtype if w.dtype not in DISCRETE_DTYPES else config.floatX)


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs: str = "raise"):
    """Vector-Jacobian product: the gradient of sum(f * eval_points) with respect to `wrt`."""
    fs, _ = _as_list(f)
    evs, _ = _as_list(eval_points)
    if len(fs) != len(evs):
        raise ValueError(f"Lop: {len(fs)} outputs but {len(evs)} eval_points")
    known = {fv: as_tensor_variable(e) for fv, e in zip(fs, evs)}
    return grad(
        None,
        wrt,
        consider_constant=consider_constant,
        disconnected_inputs=disconnected_inputs,
        known_grads=known,
    )


def Rop(f, wrt, eval_points, disconnected_outputs: str = "raise", return_disconnected="zero"):
    """Jacobian-vector product J(f, wrt) @ eval_points, built from two reverse passes.

    The vector-Jacobian product g(u) = J^T u is linear in u, so J v = d<g(u), v>/du.
    """
    fs, f_list = _as_list(f)
    ws, _ = _as_list(wrt)
    vs, _ = _as_list(eval_points)
    if len(ws) != len(vs):
        raise ValueError(f"Rop: {len(ws)} wrt but {len(vs)} eval_points")
    from symgraph.ops.math import sum as tsum

    dummies = [
        TensorType(fv.dtype if fv.dtype not in DISCRETE_DTYPES else config.floatX, fv.type.shape)(
            f"rop_u{k}"
        )
        for k, fv in enumerate(fs)
    ]
    vjps = grad(None, ws, known_grads=dict(zip(fs, dummies)), disconnected_inputs="ignore")
    inner = None
    for g, v in zip(vjps, vs):
        term = tsum(g * as_tensor_variable(v))
        inner = term if inner is None else inner + term
    results = grad(inner, dummies, disconnected_inputs="ignore")
    # The value no longer depends on u, but shape templates in the graph may still mention it:
    # any u gives the same value, so use zeros of f's shape.
    from symgraph.graph import clone_replace
    from symgraph.ops.math import zeros_like

    results, _ = clone_replace(results, {u: zeros_like(fv) for u, fv in zip(dummies, fs)})
    return results if f_list else results[0]


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs: str = "raise"):
    """The Jacobian of `expression` (flattened) with respect to `wrt`, computed with scan."""
    from symgraph.ops.alloc import arange
    from symgraph.scan import scan

    ws, as_list = _as_list(wrt)
    expression = as_tensor_variable(expression)
    if expression.ndim == 0:
        res = grad(
            expression,
            ws,
            consider_constant=consider_constant,
            disconnected_inputs=disconnected_inputs,
        )
        return res if as_list else res[0]
    flat = expression.flatten()

    def row(i, y, *ws_inner):
        return grad(
            y[i],
            list(ws_inner),
            consider_constant=consider_constant,
            disconnected_inputs=disconnected_inputs,
        )

    jacs, _ = scan(
        row, sequences=arange(flat.shape[0]), non_sequences=[flat] + ws, return_list=True
    )
    return jacs if as_list else jacs[0]


def hessian(cost, wrt, consider_constant=None, disconnected_inputs: str = "raise"):
    """The Hessian of the scalar `cost` with respect to each of `wrt`."""
    ws, as_list = _as_list(wrt)
    out = []
    for w in ws:
        g = grad(
            cost, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs
        )
        out.append(
            jacobian(
                g, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs
            )
        )
    return out if as_list else out[0]


def numeric_grad(f, pt: Sequence[np.ndarray], eps: float) -> list[np.ndarray]:
    """Central finite differences of the scalar function f(*pt) at `pt`."""
    grads = []
    for x in pt:
        g = np.zeros(x.shape, dtype="float64")
        flat = x.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            hi = float(f(*pt))
            flat[j] = old - eps
            lo = float(f(*pt))
            flat[j] = old
            g.reshape(-1)[j] = (hi - lo) / (2 * eps)
        grads.append(g)
    return grads


_EPS = {"float64": 1e-6, "float32": 3e-3, "float16": 1e-1}
_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 5e-2}


def verify_grad(
    fun,
    pt,
    n_tests: int = 2,
    rng=None,
    eps: float | None = None,
    out_type=None,
    abs_tol: float | None = None,
    rel_tol: float | None = None,
    mode=None,
    cast_to_output_type: bool = False,
    no_debug_ref: bool = True,
) -> None:
    """Check `grad` of `fun` at the point `pt` against central finite differences.

    `fun` maps symbolic inputs (one per array in `pt`) to a symbolic output; the output is
    projected onto a random direction so every element of its Jacobian is tested.
    Raises GradientError naming the input whose gradient is wrong.
    """
    import symgraph

    rng = rng if rng is not None else np.random.default_rng(42)
    if not isinstance(pt, (list, tuple)):
        raise TypeError("verify_grad: pt must be a list of numpy arrays")
    # C order: numeric_grad perturbs through a flat view, which a transposed array would copy
    pt = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) else config.floatX, order="C")
          for p in pt]
    for p in pt:
        if p.dtype.name in DISCRETE_DTYPES:
            raise TypeError(f"verify_grad: inputs must be floating point, got {p.dtype}")
    inputs = [
        TensorType(p.dtype, tuple(1 if s == 1 else None for s in p.shape))(f"input{k}")
        for k, p in enumerate(pt)
    ]
    out = as_tensor_variable(fun(*inputs))
    dtype = max((p.dtype.name for p in pt), key=lambda d: _EPS.get(d, 0))
    eps = eps or _EPS.get(dtype, 1e-6)
    abs_tol = abs_tol if abs_tol is not None else _TOL.get(dtype, 1e-4)
    rel_tol = rel_tol if rel_tol is not None else _TOL.get(dtype, 1e-4)
    for _ in range(n_tests):
        proj_value = rng.random(size=_eval_shape(inputs, out, pt, mode)).astype(out.dtype) + 0.5
        proj = symgraph.shared(proj_value, name="random_projection")
        cost = (out * proj).sum()
        symbolic = grad(cost, inputs, disconnected_inputs="ignore")
        f_cost = symgraph.function(inputs, cost, mode=mode, on_unused_input="ignore")
        f_grad = symgraph.function(inputs, symbolic, mode=mode, on_unused_input="ignore")
        analytic = f_grad(*[p.copy() for p in pt])
        work = [p.astype("float64") if p.dtype.name == "float64" else p.copy() for p in pt]
        numeric = numeric_grad(f_cost, work, eps)
        for k, (a, n) in enumerate(zip(analytic, numeric)):
            a = np.asarray(a, dtype="float64")
            abs_err = np.abs(a - n)
            rel_err = abs_err / np.maximum(np.abs(a) + np.abs(n), 1e-8)
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if np.any(bad):
                raise GradientError(
                    k, float(abs_err.max()), float(rel_err[bad].max()), abs_tol, rel_tol, a, n
                )


def _eval_shape(inputs, out, pt, mode):
    import symgraph

    f = symgraph.function(inputs, out, mode=mode, on_unused_input="ignore")
    return np.shape(f(*[p.copy() for p in pt]))
