"""MonitorMode: pre_func / post_func called around every node, Theano's signature."""

import numpy as np

import symgraph as sg
import symgraph.tensor as T
from symgraph.compile import MonitorMode
from symgraph.compile.monitormode import MonitorMode as FromModule


def test_callbacks_see_every_node_with_its_inputs_and_outputs():
    x = T.dvector("x")
    calls = []

    def pre(i, node, fn):
        calls.append(("pre", i, str(node.op), fn.outputs[0][0]))

    def post(i, node, fn):
        calls.append(("post", i, str(node.op), np.array(fn.outputs[0][0])))

    f = sg.function(
        [x], T.exp(x) + 1, mode=MonitorMode(pre_func=pre, post_func=post, optimizer=None)
    )
    np.testing.assert_allclose(f(np.zeros(2)), [2.0, 2.0])
    nodes = [str(n.op) for n in f.maker.fgraph.toposort()]
    expected = [(when, i, op) for i, op in enumerate(nodes) for when in ("pre", "post")]
    assert [c[:3] for c in calls] == expected
    assert calls[0][3] is None
    np.testing.assert_allclose(calls[-1][3], [2.0, 2.0])
    assert MonitorMode is FromModule


def test_theanos_detect_nan_recipe():
    found = []

    def detect_nan(i, node, fn):
        for output in fn.outputs:
            if not isinstance(output[0], np.random.RandomState) and np.isnan(output[0]).any():
                found.append(str(node.op))
                break

    x = T.dscalar("x")
    f = sg.function([x], [T.log(x) * x], mode=MonitorMode(post_func=detect_nan))
    f(-1.0)
    assert found and "log" in found[0]
