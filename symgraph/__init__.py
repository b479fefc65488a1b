"""symgraph: a Theano-style symbolic graph compiler.

Build an expression from symbolic tensors, take gradients, and compile a function::

    import symgraph as sg
    import symgraph.tensor as T

    x = T.dvector("x")
    f = sg.function([x], sg.grad((x ** 2).sum(), x))
"""

from symgraph import gradient, printing, tensor, updates
from symgraph.compile.mode import Mode
from symgraph.config import change_flags, config
from symgraph.function import Function, In, Out, function
from symgraph.gradient import Lop, Rop, grad
from symgraph.graph import Apply, Constant, Op, Variable, clone
from symgraph.printing import dprint, pp, pprint
from symgraph.shared import SharedVariable, shared
from symgraph import scan  # noqa: E402  (a callable module: sg.scan(...) as theano.scan)
from symgraph.scan import foldl, foldr, map, reduce  # noqa: E402, A004
from symgraph import ifelse  # noqa: E402  (the module, as theano.ifelse)
from symgraph import scan_module  # noqa: E402  (Theano's older path of scan)
from symgraph import gof  # noqa: E402  (Theano's path of the graph core)

from symgraph.fgraph import FunctionGraph  # noqa: E402
from symgraph.ops.blas import dot  # noqa: E402
from symgraph.ops.constant_value import get_scalar_constant_value  # noqa: E402
from symgraph.compile.profiling import ProfileStats  # noqa: E402

__version__ = "0.1.0"
floatX = config.floatX

__all__ = [
    "config",
    "change_flags",
    "dot",
    "get_scalar_constant_value",
    "FunctionGraph",
    "ProfileStats",
    "function",
    "Function",
    "In",
    "Out",
    "grad",
    "Lop",
    "Rop",
    "shared",
    "SharedVariable",
    "tensor",
    "printing",
    "updates",
    "Mode",
    "pp",
    "scan",
    "map",
    "reduce",
    "foldl",
    "foldr",
    "ifelse",
    "gof",
    "Op",
    "Apply",
    "Variable",
    "Constant",
    "clone",
    "pprint",
    "dprint",
    "gradient",
]
