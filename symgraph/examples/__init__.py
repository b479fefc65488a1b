"""Runnable demos: `python -m symgraph.examples.<name>`."""
