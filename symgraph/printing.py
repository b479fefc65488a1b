"""Printing graphs: debugprint (a tree of ops and variables), pp (an infix formula), Print."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from io import StringIO
from typing import Any

import numpy as np

from symgraph.graph import Apply, Constant, Op, Variable
from symgraph.variable import as_tensor_variable


def _outputs_of(obj: Any) -> tuple[list[Variable], dict]:
    """Variables to print for a variable, a list of them, a Function or a FunctionGraph."""
    extra: dict = {}
    if hasattr(obj, "maker"):
        fg = obj.maker.fgraph
        extra["program"] = obj.program
        return list(fg.outputs), extra
    if hasattr(obj, "toposort") and hasattr(obj, "outputs"):
        return list(obj.outputs), extra
    if isinstance(obj, (list, tuple)):
        return list(obj), extra
    if isinstance(obj, Apply):
        return list(obj.outputs), extra
    return [obj], extra


def debugprint(
    obj: Any,
    depth: int = -1,
    print_type: bool = False,
    file=None,
    ids: str = "CHAR",
    done=None,
    print_storage: bool = False,
    **kwargs,
) -> Any:
    """Print the graph of `obj` as an indented tree, one line per variable.

    Each line shows the op (or the variable's name), an id that repeats when a node is used
    more than once, and with `print_type` the variable's type. `file='str'` returns the text.
    """
    outputs, extra = _outputs_of(obj)
    out = StringIO()
    names: dict = {} if done is None else done
    for v in outputs:
        _print_var(v, out, "", depth, print_type, names, ids)
    program = extra.get("program")
    fallback = getattr(program, "fallback_nodes", None)
    if fallback is not None:
        out.write(f"(nodes run by their numpy reference code: {fallback})\n")
    text = out.getvalue()
    if file == "str":
        return text
    (file or sys.stdout).write(text)
    return obj


def _id(node_or_var, names: dict, ids: str) -> str:
    if ids == "":
        return ""
    key = id(node_or_var)
    if key not in names:
        n = len(names)
        label = ""
        while True:
            label = chr(ord("A") + n % 26) + label
            n = n // 26 - 1
            if n < 0:
                break
        # Theano's ids: 'CHAR' letters, 'int' a running count, 'id' the Python id
        names[key] = {"CHAR": label, "int": str(len(names))}.get(ids, str(key))
    return f"[id {names[key]}]"


def _print_var(
    v: Variable, out, prefix: str, depth: int, print_type: bool, names: dict, ids: str
) -> None:
    if depth == 0:  # Theano's depth: the number of levels printed
        return
    type_str = f" <{v.type}>" if print_type else ""
    node = v.owner
    if node is None:
        label = str(v) if not isinstance(v, Constant) else str(v)
        out.write(f"{prefix}{label} {_id(v, names, ids)}{type_str}\n")
        return
    seen = id(node) in names
    idx = f".{v.index}" if len(node.outputs) > 1 else ""
    name = f" '{v.name}'" if v.name else ""
    out.write(f"{prefix}{node.op}{idx} {_id(node, names, ids)}{name}{type_str}\n")
    if seen:
        return
    for inp in node.inputs:
        _print_var(inp, out, prefix + " |", depth - 1, print_type, names, ids)


_INFIX = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "true_div": "/",
    "int_div": "//",
    "pow": "**",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "eq": "==",
    "neq": "!=",
    "mod": "%",
}


def pp(obj: Any) -> str:
    """A one-line formula for a variable (or the outputs of a function)."""
    outputs, _ = _outputs_of(obj)
    return "\n".join(_pp(v) for v in outputs)


pprint = pp


def _pp(v: Variable) -> str:
    if v.name is not None and (v.owner is None or isinstance(v, Constant)):
        return v.name
    if isinstance(v, Constant):
        data = np.asarray(v.data)
        return str(data.item()) if data.size == 1 else f"TensorConstant{{{data.shape}}}"
    node = v.owner
    if node is None:
        return str(v)
    from symgraph.ops.elemwise import DimShuffle, Elemwise

    op = node.op
    args = [_pp(i) for i in node.inputs]
    if isinstance(op, Elemwise):
        name = op.scalar_op.name
        if name in _INFIX and len(args) >= 2:
            return "(" + f" {_INFIX[name]} ".join(args) + ")"
        if name == "neg":
            return f"(-{args[0]})"
        return f"{name}({', '.join(args)})"
    if isinstance(op, DimShuffle):
        return f"{args[0]}.dimshuffle({', '.join(map(str, op.new_order))})"
    text = f"{op}({', '.join(args)})"
    return f"{v.name} = {text}" if v.name else text


@dataclass(frozen=True)
class Print(Op):
    """Identity that prints `message` and the chosen attributes of its value when computed."""

    message: str = ""
    attrs: tuple = ("__str__",)

    view_map = {0: [0]}

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def __call__(self, x):
        return super().__call__(x)

    def perform(self, node, inputs):
        x = inputs[0]
        for attr in self.attrs:
            value = getattr(x, attr)
            value = value() if callable(value) else value
            print(f"{self.message} {attr} = {value}")
        return [x]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


dprint = debugprint


def pydotprint(fct, outfile: str | None = None, format: str = "png", with_ids: bool = False,
               print_output_file: bool = True, return_image: bool = False, **kwargs):
    """Draw the graph of `fct` (a Function, variable or list of them) with pydot (Theano's).

    Apply nodes are boxes, variables are ellipses. pydot (and graphviz) are optional: without
    them this raises ImportError saying so.
    """
    try:
        import pydot
    except ImportError as exc:
        raise ImportError("pydotprint needs the optional package pydot (and graphviz): "
                          "pip install pydot") from exc
    from symgraph.graph import toposort

    outputs, _ = _outputs_of(fct)
    graph = pydot.Dot(graph_type="digraph")
    names: dict = {}

    def var_node(v: Variable) -> str:
        key = f"v{id(v)}"
        if key not in names:
            label = str(v) + (f" {_id(v, {}, 'CHAR')}" if with_ids else "") + f"\n{v.type}"
            names[key] = label
            graph.add_node(pydot.Node(key, label=label, shape="ellipse"))
        return key

    for node in toposort(outputs):
        key = f"n{id(node)}"
        graph.add_node(pydot.Node(key, label=str(node.op), shape="box"))
        for k, inp in enumerate(node.inputs):
            graph.add_edge(pydot.Edge(var_node(inp), key, label=str(k)))
        for out in node.outputs:
            graph.add_edge(pydot.Edge(key, var_node(out)))
    for v in outputs:
        var_node(v)
    if return_image:
        return graph.create(format=format)
    outfile = outfile or f"symgraph.pydotprint.{format}"
    graph.write(outfile, format=format)
    if print_output_file:
        print("The output file is available at", outfile)
    return None
