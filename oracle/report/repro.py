"""Reproducers a learner can run with numpy alone: ``--repro DIR`` (``audit --impl``).

For each finding whose case was shrunk (:mod:`oracle.judge.shrink`) it writes

``<function>-<dtype>.npz``
    the minimal case's inputs (``input__x``), upstream gradients
    (``upstream__h``), the expected outputs and gradients from the float64 torch
    twin (``expected__output__h``, ``expected__grad__x``) and what each element may
    differ by (``allowed__...``: the tolerance row of the dtype, and for float32
    the rounding rule's allowance, as the audit judges it);
``<function>-<dtype>.py``
    a script that imports the user's function from their file, folder, module
    or notebook (:data:`SCRIPT`), calls it on those inputs and compares. It
    prints where the result differs and exits 1, or says that it agrees and
    exits 0. It needs only numpy: run it in the learner's own environment, or
    open it in a debugger. Its first lines name the likely cause of the finding, when a known
    mistake reproduces it (:mod:`oracle.judge.causes`).

A port written with torch, JAX or CuPy (:mod:`oracle.targets.backends`) is called
as the audit called it: its arguments converted into its library's arrays, its
results brought back into numpy; a backward function that ``--autograd``
supplied is computed by the library's autograd through the port's forward
function. That script needs the port's library too, and says so (in its first
line and when it runs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from impl.dlai import COURSE_PARAMETERS, GRADIENTS
from oracle.judge.audit import case_source
from oracle.judge.checks import RoundingRule, run_case, spec_tolerance
from oracle.judge.verdicts import functions_of
from oracle.references.finite_diff import as_float64
from oracle.specs.spec import Arrays, Evaluation, LayerSpec, input_names
from oracle.specs.tolerances import ROUNDING_FACTOR

#: The reproducer script; ``CONFIG`` is replaced by the finding's settings (a JSON object).
SCRIPT = r'''"""Reproduce a finding of rnn-oracle with NEEDS: python THIS_FILE (exit 1: it still fails)."""
import ast, importlib, importlib.util, json, os, re, sys, types
from pathlib import Path

import numpy as np

CONFIG = json.loads(CONFIG_TEXT)
HERE = Path(__file__).resolve().parent


def library():
    """``(to, back)``: numpy arrays into the port's library (CONFIG["library"]) and its arrays back into numpy."""
    name, device = CONFIG["library"], CONFIG["device"]
    if name == "torch":
        import torch
        to = lambda a: torch.from_numpy(a).to(device)  # shares the array's memory on the CPU
        kind, back = torch.Tensor, lambda t: t.detach().cpu().numpy()
    elif name == "jax":
        os.environ["JAX_ENABLE_X64"] = "1"  # float64 stays float64, as in the audit
        os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
        import jax
        jax.config.update("jax_enable_x64", True)
        to = lambda a: jax.device_put(a, jax.devices("gpu" if device.startswith("cuda") else "cpu")[0])
        kind, back = jax.Array, np.asarray
    elif name == "cupy":
        import cupy
        to, kind, back = cupy.asarray, cupy.ndarray, cupy.asnumpy
    else:
        return (lambda value: value), (lambda value: value)

    def into(value):
        if isinstance(value, np.ndarray):
            return to(value)
        if isinstance(value, dict):
            return {key: into(item) for key, item in value.items()}
        return value

    def out(value):
        if isinstance(value, kind):
            return back(value)
        if isinstance(value, (tuple, list)):
            return type(value)(out(item) for item in value)
        if isinstance(value, dict):
            return {key: out(item) for key, item in value.items()}
        return value

    return into, out


INTO, OUT = library()


def autograd_gradients(forward, arguments, upstream):
    """The gradients the port's autograd gives through ``forward`` (what --autograd judged)."""
    grads, positions = CONFIG["autograd_grads"], CONFIG["autograd_upstream"]
    given = [INTO(value) for value in arguments]
    if CONFIG["library"] == "torch":
        import torch
        for position in grads:
            given[position] = given[position].detach().requires_grad_(True)
        outputs = forward(*given)[:-1]
        found = torch.autograd.grad([outputs[p] for p in positions], [given[p] for p in grads],
                                    [INTO(value).to(outputs[p].dtype) for p, value in zip(positions, upstream)],
                                    allow_unused=True)
        return tuple(OUT(torch.zeros_like(given[p]) if g is None else g) for p, g in zip(grads, found))
    import jax
    import jax.numpy as jnp

    def outputs_of(*points):
        full = list(given)
        for position, point in zip(grads, points):
            full[position] = point
        return tuple(forward(*full)[:-1])

    outputs, pullback = jax.vjp(outputs_of, *(given[p] for p in grads))
    cotangents = [jnp.zeros_like(output) for output in outputs]
    for position, value in zip(positions, upstream):
        cotangents[position] = jnp.asarray(value, dtype=outputs[position].dtype)
    return OUT(tuple(pullback(tuple(cotangents))))


def course_helpers():
    """Stand-ins for deeplearning.ai's helpers where the course's are not importable (as in the audit)."""
    try:
        import rnn_utils  # noqa: F401
    except ImportError:
        helpers = types.ModuleType("rnn_utils")
        helpers.softmax = lambda z: np.exp(z - z.max(axis=0)) / np.exp(z - z.max(axis=0)).sum(axis=0)
        helpers.sigmoid = lambda z: 1 / (1 + np.exp(-z))
        sys.modules["rnn_utils"] = helpers
    for name in ("public_tests", "test_utils"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)


def run_each(nodes, filename, namespace):
    """Run statements in order, each import on its own: one that fails is skipped, as the audit skipped it."""
    for node in nodes:
        try:
            exec(compile(ast.Module([node], []), filename, "exec"), namespace)
        except Exception as error:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                raise
            print(f"(skipped, as in the audit: {ast.unparse(node)} raised {error!r})")


def load_target(text):
    """The user's code: a .py file, a notebook's definitions, a course folder or a dotted module."""
    course_helpers()
    path = Path(text)
    if path.suffix == ".ipynb":
        module = types.ModuleType("notebook")
        cells = [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
        for cell in cells:
            source = "".join(cell["source"])
            lines = ["" if re.match(r"\s*(%|!)", line) else line for line in source.splitlines()]
            try:
                tree = ast.parse("\n".join(lines))
            except SyntaxError:
                continue
            kept = [node for node in tree.body
                    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
            used = {name.id for node in kept for name in ast.walk(node) if isinstance(name, ast.Name)}
            kept += [node for node in tree.body if isinstance(node, ast.Assign)
                     and {t.id for t in node.targets if isinstance(t, ast.Name)} & used]
            kept.sort(key=lambda node: node.lineno)
            try:
                run_each(kept, f"{path}, cell", module.__dict__)
            except Exception as error:
                print(f"(a cell of {path} failed here: {error!r})")
        return [module]
    if path.suffix == ".py":
        sys.path.insert(0, str(path.resolve().parent))
        module = sys.modules[path.stem] = types.ModuleType(path.stem)
        module.__file__ = str(path.resolve())
        run_each(ast.parse(path.read_text(), str(path)).body, str(path), module.__dict__)
        return [module]
    if path.is_dir():
        sys.path.insert(0, str(path.resolve().parent))
        names = [f"{path.name}.{name}" for name in ("rnn_layers", "classifiers.rnn")
                 if (path / (name.replace(".", "/") + ".py")).is_file()]
        return [importlib.import_module(name) for name in names] or [importlib.import_module(path.name)]
    sys.path.insert(0, ".")
    return [importlib.import_module(text)]


def find(modules, name):
    for module in modules:
        if getattr(getattr(module, name, None), "__module__", None) == module.__name__:
            return getattr(module, name)
    for module in modules:
        if hasattr(module, name):
            return getattr(module, name)
    sys.exit(f"{name} is not defined in {CONFIG['target']}")


def vocabulary(size, null):
    words = [f"w{index}" for index in range(size)]
    for offset, token in enumerate(("<NULL>", "<START>", "<END>")):
        words[(null + offset) % size] = token
    return {word: index for index, word in enumerate(words)}


def run(modules, data):
    """The results the finding is about, by name, and the arguments after the call (to see mutation)."""
    inputs = {name: data[f"input__{name}"].copy() for name in CONFIG["inputs"]}
    upstream = {name: data[f"upstream__{name}"].copy() for name in CONFIG["outputs"] if f"upstream__{name}" in data}
    kind, names = CONFIG["kind"], CONFIG["names"]
    if kind in ("model_loss", "model_sample"):
        params = {name: inputs[name] for name in CONFIG["parameters"]}
        (d, h), (v, w) = params["W_proj"].shape, params["W_embed"].shape
        model = find(modules, "CaptioningRNN")(vocabulary(v, int(inputs["null"])), input_dim=d, wordvec_dim=w,
                                               hidden_dim=h, cell_type=CONFIG["cell"], dtype=params["W_proj"].dtype)
        model.params = dict(params)
        if kind == "model_sample":
            return {"sample captions": model.sample(inputs["features"], max_length=inputs["captions"].shape[1] - 1)}, {}
        loss, grads = model.loss(inputs["features"], inputs["captions"])
        return {"output loss": loss, **{f"grad {name}": grads[name] for name in CONFIG["grads"]}}, {}
    given = {name: value.copy() for name, value in inputs.items()}
    if kind == "sigmoid":
        return {"output out": OUT(find(modules, names[0])(INTO(given["x"])))}, {"input": (inputs, given)}
    arguments = list(given.values())
    if kind == "dlai":  # deeplearning.ai's API: the parameters in a dict, the gradients returned in one
        count = len(arguments) - len(CONFIG["parameters"])
        arguments = [*arguments[:count], dict(zip(CONFIG["parameters"], arguments[count:]))]
    if CONFIG["stage"] == "backward" and CONFIG["autograd_grads"] is not None:  # --autograd: no backward of its own
        grads = autograd_gradients(find(modules, names[0]), arguments, list(upstream.values()))
        return {f"grad {name}": value for name, value in zip(CONFIG["grads"], grads)}, {}
    results = find(modules, names[0])(*(INTO(value) for value in arguments))
    # In numpy, all but a layer's cache, which goes back to its backward as the port made it.
    results = (*OUT(results[:-1]), results[-1]) if kind != "loss" and isinstance(results, tuple) else OUT(results)
    if kind == "loss":
        loss, *grads = results
        return {"output loss": loss, **{f"grad {n}": g for n, g in zip(CONFIG["grads"], grads)}}, {
            "input": (inputs, given)}
    *outputs, cache = results
    found = {f"output {name}": value for name, value in zip(CONFIG["outputs"], outputs)}
    if CONFIG["stage"] == "backward":
        given_upstream = {name: value.copy() for name, value in upstream.items()}
        grads = OUT(find(modules, names[1])(*(INTO(value) for value in given_upstream.values()), cache))
        if isinstance(grads, dict):
            grads = tuple(grads.get(key) for key in CONFIG["gradients"])
        grads = grads if isinstance(grads, tuple) else (grads,)
        found = {f"grad {name}": value for name, value in zip(CONFIG["grads"], grads)}
        return found, {"upstream gradient": (upstream, given_upstream)}
    return found, {"input": (inputs, given)}


def main():
    data = np.load(HERE / CONFIG["data"])
    print(f"{CONFIG['function']} ({CONFIG['dtype']}), minimal case: {CONFIG['case']}")
    print(f"the audit found: {CONFIG['finding']}")
    for cause in CONFIG.get("causes", []):
        print(f"likely cause: {cause['text']} [{cause['id']}] (reproduced exactly on {cause['cases']} cases)")
    if CONFIG["library"] != "numpy":
        print(f"a {CONFIG['library']} port: this script needs {CONFIG['library']}, and calls it on "
              f"{CONFIG['device']}" + (f"; {CONFIG['names'][1]} comes from {CONFIG['library']}'s autograd (--autograd)"
                                       if CONFIG["autograd_grads"] is not None else ""))
    found, arguments = run(load_target(CONFIG["target"]), data)
    wrong = []
    for kind, (before, after) in arguments.items():
        wrong += [f"it changed its {kind} {name!r} in place" for name in before
                  if not np.array_equal(before[name], after[name], equal_nan=True)]
    for quantity, value in found.items():
        key = quantity.replace(" ", "__")
        if f"expected__{key}" not in data:
            continue
        expected, allowed = data[f"expected__{key}"], data[f"allowed__{key}"]
        if value is None:
            wrong.append(f"{quantity}: None (not implemented?)")
            continue
        typed = isinstance(value, (np.ndarray, np.generic))
        value = np.asarray(value)
        if value.shape != expected.shape:
            wrong.append(f"{quantity}: shape {value.shape} where {expected.shape} is expected")
            continue
        if typed and quantity != "sample captions" and value.dtype != np.dtype(CONFIG["dtype"]):
            wrong.append(f"{quantity}: dtype {value.dtype} where {CONFIG['dtype']} is expected")
        error = np.abs(value.astype(np.float64) - expected)
        outside = ~(error <= allowed)
        if np.any(outside):
            index = np.unravel_index(int(np.argmax(np.where(outside, error - allowed, -np.inf))), expected.shape)
            wrong.append(f"{quantity}: {int(outside.sum())} of {expected.size} elements outside what is allowed; "
                         f"worst at {tuple(int(i) for i in index)}: got {value[index]!r}, expected "
                         f"{expected[index]!r} (allowed difference {allowed[index]:.3g})")
    if wrong:
        print("STILL WRONG:\n  " + "\n  ".join(wrong))
        sys.exit(1)
    print("agrees with the reference: fixed")


if __name__ == "__main__":
    main()
'''


def write_reproducers(folder: Path, target: str, specs: list[LayerSpec], minimal: dict,
                      config: Any, causes: dict | None = None, library: str = "numpy",
                      autograd: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Write the ``.npz`` and ``.py`` of each shrunk finding in ``minimal`` (:func:`oracle.judge.shrink.minimal_cases`).

    Returns the scripts' paths, ``{function: {dtype: path}}``. Runs the bound ``specs`` once more on each
    minimal case (for its upstream gradients). A target sent from a kernel has no file to import: nothing
    is written for it. ``causes``: the likely causes (:func:`oracle.judge.causes.causes`), stated in each
    script's header and printed when it runs.
    """
    if target.startswith("<"):
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, str]] = {}
    by_function = {function: spec for spec in specs for function in functions_of(spec)}
    for function, dtypes in minimal.items():
        spec = by_function[function]
        for dtype, found in dtypes.items():
            stem = re.sub(r"[^\w.-]+", "_", f"{function}-{dtype}")
            data, settings = _case_data(spec, function, dtype, found, config)
            np.savez(folder / f"{stem}.npz", **data)
            supplied = (autograd or {}).get(function)
            settings.update(library=library, device=getattr(config, "device", "cpu"),
                            **_autograd_settings(spec, supplied is not None))
            settings.update(target=str(Path(target).resolve()) if Path(target).exists() else target,
                            data=f"{stem}.npz", function=function, dtype=dtype, finding=found["finding"],
                            case=found["text"])
            likely = (causes or {}).get(function, {}).get(dtype, [])
            settings["causes"] = likely
            script = cause_header(likely) + SCRIPT.replace("CONFIG_TEXT", repr(json.dumps(settings))).replace(
                "NEEDS", "numpy alone" if library == "numpy" else f"numpy and {library} (the port's library)")
            (folder / f"{stem}.py").write_text(script)
            written.setdefault(function, {})[dtype] = str(folder / f"{stem}.py")
    return written


def cause_header(likely: list[dict]) -> str:
    """Comment lines naming the likely causes of the finding a script reproduces (``""`` when none is known)."""
    return "".join(f"# likely cause: {' '.join(cause['text'].split())} [{cause['id']}] (reproduced exactly on "
                   f"{cause['cases']} cases)\n" for cause in likely)


def _autograd_settings(spec: LayerSpec, supplied: bool) -> dict[str, Any]:
    """For a backward that autograd supplied: the positions of the inputs differentiated and of the upstream outputs."""
    if not supplied:
        return {"autograd_grads": None, "autograd_upstream": None}
    names = list(input_names(spec))
    return {"autograd_grads": [names.index(name) for name in spec.grads],
            "autograd_upstream": [spec.outputs.index(name) for name in spec.upstream_outputs]}


def _case_data(spec: LayerSpec, function: str, dtype: str, found: dict, config: Any) -> tuple[dict, dict]:
    """The arrays of the ``.npz`` and the script's settings for one finding."""
    case = found["minimal"]
    names = functions_of(spec)
    source = case_source(spec, np.dtype(dtype), config.seed, found["case"], case.setting)
    try:
        drawn = run_case(spec, source, np.dtype(dtype), keep_forward=True)
        inputs, upstream = drawn.inputs, drawn.upstream
    except Exception:  # the forward pass fails on it: the script only needs the inputs to show that
        inputs = spec.make_inputs(case_source(spec, np.dtype(dtype), config.seed, found["case"], case.setting),
                                  np.dtype(dtype))
        upstream = {}
    data = {f"input__{name}": value for name, value in inputs.items()}
    data.update({f"upstream__{name}": value for name, value in upstream.items()})
    expected = _expected(spec, inputs, upstream, function, names, dtype)
    data.update(expected)
    cell = spec.gates.cell if spec.gates is not None else ""
    if spec.public_names == ("CaptioningRNN",):
        kind = "model_sample" if function == names[-1] else "model_loss"
    elif spec.public_names == ("sigmoid",):
        kind = "sigmoid"
    elif spec.family == "dlai":
        kind = "dlai"
    else:
        kind = "loss" if spec.is_loss else "layer"
    stage = "backward" if len(names) == 2 and function == names[1] and kind in ("layer", "dlai") else "forward"
    parameters = [name for name in spec.grads] if cell and kind != "dlai" else []
    if kind == "dlai":
        parameters = [name for name in inputs if any(name in names for names in COURSE_PARAMETERS.values())]
    return data, {"kind": kind, "names": list(spec.public_names), "inputs": list(inputs), "outputs": list(spec.outputs),
                  "grads": list(spec.grads), "parameters": parameters, "cell": cell, "stage": stage,
                  "gradients": list(GRADIENTS.get(names[-1], ()))}


def _expected(spec: LayerSpec, inputs: Arrays, upstream: Arrays, function: str, names: tuple[str, ...],
              dtype: str) -> dict[str, np.ndarray]:
    """The float64 twin's results and what each element may differ by, as ``expected__...`` / ``allowed__...``."""
    try:
        reference = spec.twin(as_float64(inputs), as_float64(upstream), "cpu")
    except Exception:  # no reference here (the case's upstream is missing): the script shows the crash alone
        return {}
    if spec.public_names == ("CaptioningRNN",) and function == names[-1]:
        from oracle.judge.sampling import sample_both

        _, words, _ = sample_both(spec.gates.cell if spec.gates else "", inputs, "cpu")
        return {"expected__sample__captions": words.astype(np.float64),
                "allowed__sample__captions": np.zeros(words.shape)}
    tolerance = spec_tolerance(spec, dtype)
    spread = RoundingRule(spec, inputs, upstream).spread if dtype == "float32" else Evaluation({}, {})
    arrays = {}
    for kind, values, spreads in (("output", reference.outputs, spread.outputs), ("grad", reference.grads,
                                                                                 spread.grads)):
        for name, value in values.items():
            value = np.asarray(value, dtype=np.float64)
            allowed = tolerance.atol + tolerance.rtol * np.abs(value)
            if name in spreads:
                allowed = allowed + ROUNDING_FACTOR * np.abs(np.asarray(spreads[name], dtype=np.float64))
            arrays[f"expected__{kind}__{name}"], arrays[f"allowed__{kind}__{name}"] = value, allowed
    return arrays
