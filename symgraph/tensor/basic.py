"""symgraph.tensor.basic: Theano's module of the core tensor functions.

Code written for Theano imports from here (``from theano.tensor.basic import ...``); it
exposes the same names as ``symgraph.tensor`` itself.
"""

import symgraph.tensor as _tensor

# not `type` (the submodule): it would hide the builtin here and in star imports
__all__ = [k for k in vars(_tensor) if not k.startswith("_") and k != "type"]
globals().update({k: getattr(_tensor, k) for k in __all__})
