"""tensor.nnet.neighbours (images2neibs, neibs2images) against loops over patch positions."""

import numpy as np
import pytest
from helpers import check_op

import symgraph as sg
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.nnet.neighbours import images2neibs, neibs2images

rng = np.random.default_rng(11)


def reference(x, shape, step, mode):
    """Theano's images2neibs, written as loops: images in order, positions row-major."""
    (c, d), (sr, sc) = shape, step
    pad = {"half": (c // 2, d // 2), "full": (c - 1, d - 1)}.get(mode, (0, 0))
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    rows = []
    for a in range(x.shape[0]):
        for b in range(x.shape[1]):
            for i in range(0, x.shape[2] - c + 1, sr):
                for j in range(0, x.shape[3] - d + 1, sc):
                    rows.append(x[a, b, i:i + c, j:j + d].ravel())
    return np.array(rows, dtype=x.dtype).reshape(-1, c * d)


CASES = [
    ((2, 3, 4, 6), (2, 2), None, "valid"),
    ((1, 2, 5, 7), (3, 2), (1, 1), "valid"),  # overlapping patches
    ((2, 1, 7, 5), (2, 3), (2, 1), "ignore_borders"),
    ((1, 2, 5, 6), (3, 3), (1, 2), "half"),
    ((2, 1, 4, 3), (2, 3), (1, 1), "full"),
]


@pytest.mark.parametrize("xshape,shape,step,mode", CASES)
def test_images2neibs_matches_the_loops_on_every_backend_with_its_gradient(
        xshape, shape, step, mode):
    x = rng.normal(size=xshape)
    check_op(lambda a: images2neibs(a, shape, step, mode), [x],
             lambda a: reference(a, shape, step or shape, mode), grad=True)


@pytest.mark.parametrize("xshape,shape,step,mode", CASES)
def test_neibs2images_is_the_transpose_of_images2neibs(xshape, shape, step, mode):
    """<images2neibs(x), y> == <x, neibs2images(y)> for every x, y: the adjoint, so each is
    the other's gradient; with side-by-side patches it is also the inverse."""
    x = rng.normal(size=xshape)
    patches = reference(x, shape, step or shape, mode)
    y = rng.normal(size=patches.shape)
    from symgraph.ops.neighbours import Neibs2Images

    n = T.dmatrix("n")
    back = sg.function([n], Neibs2Images(shape, step or shape, mode)(n, xshape))(y)
    np.testing.assert_allclose(np.sum(patches * y), np.sum(x * back), rtol=1e-10)
    verify_grad(lambda v: Neibs2Images(shape, step or shape, mode)(v, xshape), [y], rng=rng)


def test_neibs2images_inverts_side_by_side_patches_and_zeroes_ignored_borders():
    x = rng.normal(size=(2, 3, 6, 4)).astype("float32")
    xs = T.tensor4("x", dtype="float32")
    n = images2neibs(xs, (2, 2))
    np.testing.assert_array_equal(sg.function([xs], neibs2images(n, (2, 2), xs.shape))(x), x)
    odd = rng.normal(size=(1, 1, 5, 5))
    xo = T.dtensor4("xo")
    back = sg.function([xo], neibs2images(images2neibs(xo, (2, 2), mode="ignore_borders"),
                                          (2, 2), xo.shape, mode="ignore_borders"))(odd)
    want = odd.copy()
    want[:, :, 4, :] = want[:, :, :, 4] = 0
    np.testing.assert_array_equal(back, want)


def test_the_theano_paths_and_a_constant_shape_vector():
    x = T.tensor4("x")
    a = T.nnet.neighbours.images2neibs(x, T.as_tensor_variable([2, 2]))
    b = T.nnet.images2neibs(x, (2, 2), neib_step=np.array([2, 2]))
    v = rng.normal(size=(1, 1, 4, 4)).astype(x.dtype)
    f = sg.function([x], [a, b])
    np.testing.assert_array_equal(*f(v))


def test_bad_input_is_named():
    x = T.tensor4("images")
    with pytest.raises(ValueError, match=r"not fit.*'valid'.*ignore_borders"):
        sg.function([x], images2neibs(x, (2, 2)))(np.zeros((1, 1, 5, 4), x.dtype))
    with pytest.raises(TypeError, match="4-d tensor"):
        images2neibs(T.matrix("m"), (2, 2))
    with pytest.raises(NotImplementedError, match="wrap_centered"):
        images2neibs(x, (3, 3), mode="wrap_centered")
    with pytest.raises(ValueError, match="mode must be"):
        images2neibs(x, (3, 3), mode="same")
    with pytest.raises(NotImplementedError, match="symbolic sizes"):
        images2neibs(x, T.ivector("s"))
    with pytest.raises(ValueError, match="positive"):
        images2neibs(x, (0, 2))
    with pytest.raises(ValueError, match="exceeds"):
        sg.function([x], images2neibs(x, (3, 3), mode="ignore_borders"))(
            np.zeros((1, 1, 2, 5), x.dtype))
    n = T.matrix("n")
    with pytest.raises(ValueError, match="patches have shape"):
        sg.function([n], neibs2images(n, (2, 2), (1, 1, 4, 4)))(np.zeros((3, 4), n.dtype))
