"""``python -m symgraph.cache``: the same command line as ``symgraph.codegen.cache``."""

from symgraph.codegen.cache import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
