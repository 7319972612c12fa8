"""Learner-style fixtures of deeplearning.ai's error models (:mod:`oracle.layers.dlai_mistakes`), one per model.

Each fixture is the correct assignment of :mod:`tests.dlai_course` with the
edits of one row of :data:`FIXTURES`: ``(function, the line as it is, the
line as the learner wrote it)``, so the catalogue's fixtures are a table of
small rewrites, not a family of files. :func:`functions_with` applies them
(an edit whose line is not found exactly once is an error, so a fixture
cannot silently stop making its mistake), and :func:`tests.dlai_course.write_module`
and :func:`tests.dlai_course.write_notebook` save the result as a ``.py``
file or a notebook.
"""

from __future__ import annotations

from tests import dlai_course

#: ``(function, old text, new text)``: one rewrite of the correct assignment.
Edit = tuple[str, str, str]

_RNN_DZ = "dz = (1 - a_next ** 2) * da_next"
_LSTM_CALL = "lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)"
_LSTM_BACK = "grads = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])"
_DC_CARRY = '        dc_prevt = grads["dc_prev"]\n'

#: Error model id -> the edits that make its mistake.
FIXTURES: dict[str, tuple[Edit, ...]] = {
    "dlai_rnn_cell.tanh_missing": (
        ("rnn_cell_forward", "a_next = np.tanh(np.dot(Wax, xt) + np.dot(Waa, a_prev) + ba)",
         "a_next = np.dot(Wax, xt) + np.dot(Waa, a_prev) + ba"),),
    "dlai_rnn_cell.tanh_derivative_missing": (
        ("rnn_cell_backward", "dz = (1 - a_next ** 2) * da_next", "dz = da_next"),),
    "dlai_rnn_cell.tanh_derivative_of_activated": (
        ("rnn_cell_backward", "dz = (1 - a_next ** 2) * da_next", "dz = (1 - np.tanh(a_next) ** 2) * da_next"),),
    "dlai_rnn_cell.waa_gradient_from_a_next": (
        ("rnn_cell_backward", "dWaa = np.dot(dz, a_prev.T)", "dWaa = np.dot(dz, a_next.T)"),),
    "dlai_rnn_cell.averaged_over_batch": (
        ("rnn_cell_backward", _RNN_DZ, "m = xt.shape[1]\n    " + _RNN_DZ),
        ("rnn_cell_backward", "dWax = np.dot(dz, xt.T)", "dWax = 1 / m * np.dot(dz, xt.T)"),
        ("rnn_cell_backward", "dWaa = np.dot(dz, a_prev.T)", "dWaa = 1 / m * np.dot(dz, a_prev.T)"),
        ("rnn_cell_backward", "dba = np.sum(dz, axis=1, keepdims=True)",
         "dba = 1 / m * np.sum(dz, axis=1, keepdims=True)"),
    ),
    "dlai_rnn.a0_at_every_step": (
        ("rnn_forward", "rnn_cell_forward(x[:, :, t], a_next, parameters)",
         "rnn_cell_forward(x[:, :, t], a0, parameters)"),),
    "dlai_rnn.da_prev_not_carried": (
        ("rnn_backward", "rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])",
         "rnn_cell_backward(da[:, :, t], caches[t])"),),
    "dlai_rnn.weights_from_one_step": tuple(
        ("rnn_backward", f'{name} += grads["{name}"]', f'{name} = grads["{name}"]')
        for name in ("dWax", "dWaa", "dba")),
    "dlai_lstm_cell.forget_gate_not_applied": (
        ("lstm_cell_forward", "c_next = ft * c_prev + it * cct", "c_next = c_prev + it * cct"),),
    "dlai_lstm_cell.update_gate_not_applied": (
        ("lstm_cell_forward", "c_next = ft * c_prev + it * cct", "c_next = ft * c_prev + cct"),),
    "dlai_lstm_cell.output_gate_not_applied": (
        ("lstm_cell_forward", "a_next = ot * np.tanh(c_next)", "a_next = np.tanh(c_next)"),),
    "dlai_lstm_cell.cell_tanh_missing": (
        ("lstm_cell_forward", "a_next = ot * np.tanh(c_next)", "a_next = ot * c_next"),),
    "dlai_lstm_cell.concat_x_first": (
        ("lstm_cell_forward", "np.concatenate([a_prev, xt], axis=0)", "np.concatenate([xt, a_prev], axis=0)"),),
    "dlai_lstm_cell.forget_update_swapped": (
        ("lstm_cell_forward", 'ft = sigmoid(np.dot(parameters["Wf"], concat) + parameters["bf"])',
         'ft = sigmoid(np.dot(parameters["Wi"], concat) + parameters["bi"])'),
        ("lstm_cell_forward", 'it = sigmoid(np.dot(parameters["Wi"], concat) + parameters["bi"])',
         'it = sigmoid(np.dot(parameters["Wf"], concat) + parameters["bf"])'),
        ("lstm_cell_backward", '(("f", dft), ("i", dit),', '(("i", dft), ("f", dit),'),
    ),
    "dlai_lstm_cell.cell_tanh_derivative_of_c": (
        ("lstm_cell_backward", "(1 - tanh_c ** 2)", "(1 - c_next ** 2)"),),
    "dlai_lstm_cell.sigmoid_derivatives_missing": (
        ("lstm_cell_backward", "dot = da_next * tanh_c * ot * (1 - ot)", "dot = da_next * tanh_c"),
        ("lstm_cell_backward", "dit = dc * cct * it * (1 - it)", "dit = dc * cct"),
        ("lstm_cell_backward", "dft = dc * c_prev * ft * (1 - ft)", "dft = dc * c_prev"),
    ),
    "dlai_lstm_cell.sigmoid_derivatives_of_activated": tuple(
        ("lstm_cell_backward", f"{gate} * (1 - {gate})", f"sigmoid({gate}) * (1 - sigmoid({gate}))")
        for gate in ("ot", "it", "ft")),
    "dlai_lstm_cell.candidate_derivative_of_activated": (
        ("lstm_cell_backward", "(1 - cct ** 2)", "(1 - np.tanh(cct) ** 2)"),),
    "dlai_lstm_cell.gates_without_hidden_path": tuple(
        ("lstm_cell_backward", f"{name} = dc * ", f"{name} = dc_next * ") for name in ("dcct", "dit", "dft")),
    "dlai_lstm_cell.forget_path_missing": (
        ("lstm_cell_backward", 'grads["dc_prev"] = dc * ft', 'grads["dc_prev"] = dc'),),
    "dlai_lstm_cell.dc_prev_without_hidden_path": (
        ("lstm_cell_backward", 'grads["dc_prev"] = dc * ft', 'grads["dc_prev"] = dc_next * ft'),),
    "dlai_lstm_cell.weight_gradients_concat_x_first": (
        ("lstm_cell_backward", "np.concatenate([a_prev, xt], axis=0)", "np.concatenate([xt, a_prev], axis=0)"),),
    "dlai_lstm_cell.weight_gradients_from_a_next": (
        ("lstm_cell_backward", "np.concatenate([a_prev, xt], axis=0)", "np.concatenate([a_next, xt], axis=0)"),),
    "dlai_lstm_cell.averaged_over_batch": (
        ("lstm_cell_backward", "n_a = a_next.shape[0]", "n_a, m = a_next.shape"),
        ("lstm_cell_backward", "np.dot(dgate, concat.T)", "1 / m * np.dot(dgate, concat.T)"),
        ("lstm_cell_backward", "np.sum(dgate, axis=1, keepdims=True)", "1 / m * np.sum(dgate, axis=1, keepdims=True)"),
    ),
    "dlai_lstm.a0_at_every_step": (
        ("lstm_forward", _LSTM_CALL, "lstm_cell_forward(x[:, :, t], a0, c_next, parameters)"),),
    "dlai_lstm.cell_state_starts_at_a0": (
        ("lstm_forward", "c_next = np.zeros((n_a, m))", "c_next = a0"),),
    "dlai_lstm.cell_state_reset_every_step": (
        ("lstm_forward", _LSTM_CALL, "lstm_cell_forward(x[:, :, t], a_next, np.zeros((n_a, m)), parameters)"),),
    "dlai_lstm.states_swapped": (
        ("lstm_forward", "a_next, c_next, yt, cache = ", "c_next, a_next, yt, cache = "),),
    "dlai_lstm.a_and_c_share_one_array": (
        ("lstm_forward", "a = np.zeros((n_a, m, T_x))\n    c = np.zeros((n_a, m, T_x))",
         "a = c = np.zeros((n_a, m, T_x))"),),
    "dlai_lstm.da_prev_not_carried": (
        ("lstm_backward", _LSTM_BACK, "grads = lstm_cell_backward(da[:, :, t], dc_prevt, caches[t])"),),
    "dlai_lstm.dc_prev_not_carried": (
        ("lstm_backward", _DC_CARRY, ""),),
    "dlai_lstm.nothing_carried": (
        ("lstm_backward", _LSTM_BACK, "grads = lstm_cell_backward(da[:, :, t], np.zeros((n_a, m)), caches[t])"),
        ("lstm_backward", _DC_CARRY, ""),
    ),
    "dlai_lstm.weights_from_one_step": (
        ("lstm_backward", "totals[key] = totals.get(key, 0) + grads[key]", "totals[key] = grads[key]"),),
}


def functions_with(*edits: Edit) -> dict[str, str]:
    """The correct assignment's function sources, by name, with ``edits`` applied in order."""
    functions = dict(dlai_course.FUNCTIONS)
    for name, old, new in edits:
        count = functions[name].count(old)
        if count != 1:
            raise ValueError(f"the edit of {name} expects {old!r} once in it, found it {count} times")
        functions[name] = functions[name].replace(old, new)
    return functions


def fixture(model_id: str) -> dict[str, str]:
    """The assignment that makes the mistake of ``model_id``, by function name."""
    return functions_with(*FIXTURES[model_id])


def changed_functions(model_id: str) -> set[str]:
    """The functions whose source the fixture of ``model_id`` changes."""
    return {name for name, _, _ in FIXTURES[model_id]}
