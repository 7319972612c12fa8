"""deeplearning.ai-style learner code written here ("Building your RNN step by step"), right and with one bug each.

Every fixture is the whole assignment as a learner keeps it: an imports cell
(``rnn_utils`` and ``public_tests``, which do not come with the notebook),
one cell per function, and test cells that draw random data and call the
functions. :data:`FUNCTIONS` is a correct version in the course's style,
written for these tests; each of :data:`PROBLEMS` replaces one function with
a buggy one and names the findings the audit must give, and no other.
:func:`write_module` saves a fixture as a ``.py`` file (the test cells left
out, as a learner's exported module has none), :func:`write_notebook` as a
notebook built with nbformat.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

IMPORTS = "import numpy as np\nfrom rnn_utils import *\nfrom public_tests import *\n"

FUNCTIONS: dict[str, str] = {
    "rnn_cell_forward": '''
def rnn_cell_forward(xt, a_prev, parameters):
    Wax, Waa, Wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    ba, by = parameters["ba"], parameters["by"]
    a_next = np.tanh(np.dot(Wax, xt) + np.dot(Waa, a_prev) + ba)
    yt_pred = softmax(np.dot(Wya, a_next) + by)
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache
''',
    "rnn_forward": '''
def rnn_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((n_y, m, T_x))
    a_next = a0
    for t in range(T_x):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        y_pred[:, :, t] = yt_pred
        caches.append(cache)
    return a, y_pred, (caches, x)
''',
    "rnn_cell_backward": '''
def rnn_cell_backward(da_next, cache):
    a_next, a_prev, xt, parameters = cache
    dz = (1 - a_next ** 2) * da_next
    dxt = np.dot(parameters["Wax"].T, dz)
    dWax = np.dot(dz, xt.T)
    da_prev = np.dot(parameters["Waa"].T, dz)
    dWaa = np.dot(dz, a_prev.T)
    dba = np.sum(dz, axis=1, keepdims=True)
    return {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}
''',
    "rnn_backward": '''
def rnn_backward(da, caches):
    caches, x = caches
    a1, a0, x1, parameters = caches[0]
    n_a, m, T_x = da.shape
    n_x = x1.shape[0]
    dx = np.zeros((n_x, m, T_x))
    dWax = np.zeros((n_a, n_x))
    dWaa = np.zeros((n_a, n_a))
    dba = np.zeros((n_a, 1))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        grads = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])
        dx[:, :, t] = grads["dxt"]
        da_prevt = grads["da_prev"]
        dWax += grads["dWax"]
        dWaa += grads["dWaa"]
        dba += grads["dba"]
    return {"dx": dx, "da0": da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}
''',
    "lstm_cell_forward": '''
def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    concat = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(np.dot(parameters["Wf"], concat) + parameters["bf"])
    it = sigmoid(np.dot(parameters["Wi"], concat) + parameters["bi"])
    cct = np.tanh(np.dot(parameters["Wc"], concat) + parameters["bc"])
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(parameters["Wo"], concat) + parameters["bo"])
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(np.dot(parameters["Wy"], a_next) + parameters["by"])
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache
''',
    "lstm_forward": '''
def lstm_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    a_next = a0
    c_next = np.zeros((n_a, m))
    for t in range(T_x):
        a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        y[:, :, t] = yt
        caches.append(cache)
    return a, y, c, (caches, x)
''',
    "lstm_cell_backward": '''
def lstm_cell_backward(da_next, dc_next, cache):
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters = cache
    n_a = a_next.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c ** 2)
    dot = da_next * tanh_c * ot * (1 - ot)
    dcct = dc * it * (1 - cct ** 2)
    dit = dc * cct * it * (1 - it)
    dft = dc * c_prev * ft * (1 - ft)
    concat = np.concatenate([a_prev, xt], axis=0)
    grads = {}
    d_concat = 0
    for gate, dgate in (("f", dft), ("i", dit), ("c", dcct), ("o", dot)):
        grads["dW" + gate] = np.dot(dgate, concat.T)
        grads["db" + gate] = np.sum(dgate, axis=1, keepdims=True)
        d_concat = d_concat + np.dot(parameters["W" + gate].T, dgate)
    grads["da_prev"] = d_concat[:n_a]
    grads["dxt"] = d_concat[n_a:]
    grads["dc_prev"] = dc * ft
    return grads
''',
    "lstm_backward": '''
def lstm_backward(da, caches):
    caches, x = caches
    a1, c1, a0, c0, f1, i1, cc1, o1, x1, parameters = caches[0]
    n_a, m, T_x = da.shape
    n_x = x1.shape[0]
    dx = np.zeros((n_x, m, T_x))
    totals = {}
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        grads = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])
        dx[:, :, t] = grads["dxt"]
        da_prevt = grads["da_prev"]
        dc_prevt = grads["dc_prev"]
        for key in ("dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"):
            totals[key] = totals.get(key, 0) + grads[key]
    return {"dx": dx, "da0": da_prevt, **totals}
''',
}

#: A learner's test cells: random data, a call, a print (they never run in an audit, whose default is definitions).
TEST_CELLS = (
    '''np.random.seed(1)
xt_tmp = np.random.randn(3, 10)
a_prev_tmp = np.random.randn(5, 10)
parameters_tmp = {"Wax": np.random.randn(5, 3), "Waa": np.random.randn(5, 5), "Wya": np.random.randn(2, 5),
                  "ba": np.random.randn(5, 1), "by": np.random.randn(2, 1)}
a_next_tmp, yt_pred_tmp, cache_tmp = rnn_cell_forward(xt_tmp, a_prev_tmp, parameters_tmp)
print("a_next[4] =", a_next_tmp[4])
rnn_cell_forward_tests(rnn_cell_forward)
''',
    '''np.random.seed(1)
x_tmp = np.random.randn(3, 10, 7)
a0_tmp = np.random.randn(5, 10)
a_tmp, y_tmp, caches_tmp = rnn_forward(x_tmp, a0_tmp, parameters_tmp)
gradients_tmp = rnn_backward(np.random.randn(5, 10, 7), caches_tmp)
print("dx[1][2] =", gradients_tmp["dx"][1][2])
''',
)

#: Problem -> (the functions it replaces, by name, {function: findings} the audit must give; the rest pass).
PROBLEMS: dict[str, tuple[dict[str, str], dict[str, set[str]]]] = {
    "correct": ({}, {}),
    "no backpropagation through time": ({"lstm_backward": '''
def lstm_backward(da, caches):
    caches, x = caches
    parameters = caches[0][-1]
    n_a, m, T_x = da.shape
    dx = np.zeros((x.shape[0], m, T_x))
    totals = {}
    for t in reversed(range(T_x)):
        # each step sees only its own upstream gradient: nothing is carried back from step t + 1
        grads = lstm_cell_backward(da[:, :, t], np.zeros((n_a, m)), caches[t])
        dx[:, :, t] = grads["dxt"]
        da0 = grads["da_prev"]
        for key in ("dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"):
            totals[key] = totals.get(key, 0) + grads[key]
    return {"dx": dx, "da0": da0, **totals}
'''}, {"lstm_backward": {"wrong_value"}}),
    "missing tanh derivative": ({"rnn_cell_backward": '''
def rnn_cell_backward(da_next, cache):
    a_next, a_prev, xt, parameters = cache
    dz = da_next  # the derivative of tanh, 1 - a_next ** 2, is missing
    return {"dxt": np.dot(parameters["Wax"].T, dz), "da_prev": np.dot(parameters["Waa"].T, dz),
            "dWax": np.dot(dz, xt.T), "dWaa": np.dot(dz, a_prev.T), "dba": np.sum(dz, axis=1, keepdims=True)}
'''}, {"rnn_cell_backward": {"wrong_value"}, "rnn_backward": {"wrong_value"}}),
    "accumulator doubles itself": ({"rnn_backward": '''
def rnn_backward(da, caches):
    caches, x = caches
    parameters = caches[0][3]
    n_a, m, T_x = da.shape
    dx = np.zeros((x.shape[0], m, T_x))
    dWax = np.zeros_like(parameters["Wax"])
    dWaa = np.zeros_like(parameters["Waa"])
    dba = np.zeros_like(parameters["ba"])
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        grads = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])
        dx[:, :, t] = grads["dxt"]
        da_prevt = grads["da_prev"]
        dWax += dWax  # meant: dWax += grads["dWax"]
        dWaa += grads["dWaa"]
        dba += grads["dba"]
    return {"dx": dx, "da0": da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}
'''}, {"rnn_backward": {"wrong_value"}}),
    "globals instead of parameters": ({"lstm_cell_forward": '''
def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    concat = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(np.dot(Wf, concat) + bf)  # Wf and bf: globals a test cell set, not parameters["Wf"]
    it = sigmoid(np.dot(parameters["Wi"], concat) + parameters["bi"])
    cct = np.tanh(np.dot(parameters["Wc"], concat) + parameters["bc"])
    c_next = ft * c_prev + it * cct
    ot = sigmoid(np.dot(parameters["Wo"], concat) + parameters["bo"])
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(np.dot(parameters["Wy"], a_next) + parameters["by"])
    return a_next, c_next, yt_pred, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
'''}, {"lstm_cell_forward": {"crash"}, "lstm_cell_backward": {"untested"}, "lstm_forward": {"crash"},
       "lstm_backward": {"untested"}}),
    "stub left as None placeholders": ({"rnn_cell_forward": '''
def rnn_cell_forward(xt, a_prev, parameters):
    Wax = parameters["Wax"]
    Waa = parameters["Waa"]
    ### START CODE HERE ###
    a_next = None
    yt_pred = None
    ### END CODE HERE ###
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache
''', "rnn_forward": '''
def rnn_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    ### START CODE HERE ###
    a = None
    y_pred = None
    a_next = None
    for t in range(None):
        a_next, yt_pred, cache = None
    ### END CODE HERE ###
    return a, y_pred, (caches, x)
''', "lstm_cell_backward": '''
def lstm_cell_backward(da_next, dc_next, cache):
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) = cache
    ### START CODE HERE ###
    dot = None
    dcct = None
    dxt = None
    da_prev = None
    dc_prev = None
    dWf = dbf = dWi = dbi = dWc = dbc = dWo = dbo = None
    ### END CODE HERE ###
    return {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev, "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
            "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}
''', "lstm_backward": '''
def lstm_backward(da, caches):
    (caches, x) = caches
    (a1, c1, a0, c0, f1, i1, cc1, o1, x1, parameters) = caches[0]
    ### START CODE HERE ###
    n_a, m, T_x = None
    n_x, m = None
    dx = None
    da0 = None
    for t in reversed(range(None)):
        gradients = None
    ### END CODE HERE ###
    return {"dx": dx, "da0": da0}
'''}, {"rnn_cell_forward": {"not_implemented"}, "rnn_cell_backward": {"untested"},
       "rnn_forward": {"not_implemented"}, "rnn_backward": {"untested"},
       "lstm_cell_backward": {"not_implemented"}, "lstm_backward": {"not_implemented"}}),
}

#: Problem -> {function: the ids of its likely causes} (:mod:`oracle.layers.dlai_mistakes`); the rest get none.
#: A mistake outside the catalogue (the accumulator that doubles itself) gets none, nor does a crash or a stub.
CAUSES: dict[str, dict[str, list[str]]] = {
    "correct": {},
    "no backpropagation through time": {"lstm_backward": ["dlai_lstm.nothing_carried"]},
    "missing tanh derivative": {"rnn_cell_backward": ["dlai_rnn_cell.tanh_derivative_missing"],
                                "rnn_backward": ["inherited.rnn_cell_backward"]},
    "accumulator doubles itself": {},
    "globals instead of parameters": {},
    "stub left as None placeholders": {},
}

#: The global-reading fixture's notebook sets its globals in a test cell, as the learner's did.
GLOBALS_CELL = '''np.random.seed(2)
Wf = np.random.randn(5, 8)
bf = np.random.randn(5, 1)
a_tmp, c_tmp, y_tmp, cache_tmp = lstm_cell_forward(np.random.randn(3, 10), np.random.randn(5, 10),
                                                   np.random.randn(5, 10), parameters_tmp)
'''


def functions_of(problem: str | Mapping[str, str]) -> dict[str, str]:
    """The fixture's function sources, by name: the correct ones with the problem's replacements.

    ``problem`` is a name of :data:`PROBLEMS`, or the sources themselves (:mod:`tests.dlai_mistakes`).
    """
    return {**FUNCTIONS, **PROBLEMS[problem][0]} if isinstance(problem, str) else dict(problem)


def write_module(path: Path, problem: str | Mapping[str, str]) -> Path:
    """The fixture as one ``.py`` file: the imports and the functions."""
    path.write_text(IMPORTS + "".join(functions_of(problem).values()))
    return path


def write_notebook(path: Path, problem: str | Mapping[str, str]) -> Path:
    """The fixture as a notebook (nbformat): markdown, the imports, a cell per function, test cells between."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [new_markdown_cell("# Building your Recurrent Neural Network - Step by Step"), new_code_cell(IMPORTS)]
    for number, source in enumerate(functions_of(problem).values()):
        cells.append(new_code_cell(source.strip() + "\n"))
        if number < len(TEST_CELLS):
            cells.append(new_code_cell(TEST_CELLS[number]))
    if problem == "globals instead of parameters":
        cells.append(new_code_cell(GLOBALS_CELL))
    for count, cell in enumerate(cell for cell in cells if cell.cell_type == "code"):
        cell.execution_count = count + 1
    notebook = new_notebook(cells=cells)
    nbformat.write(notebook, str(path))
    return path
