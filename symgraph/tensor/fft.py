"""symgraph.tensor.fft: Theano's real FFTs at their path (rfft, irfft; see ops/fft.py)."""

from symgraph.ops.fft import IRFFTOp, RFFTOp, irfft, rfft

__all__ = ["IRFFTOp", "RFFTOp", "irfft", "rfft"]
