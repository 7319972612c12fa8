"""``--autograd``: the backward functions a torch or JAX port lacks, from its library's autograd, in the worker.

A port that defines forward functions only (its backward hand-written as a
``torch.autograd.Function`` or a ``jax.custom_vjp``, or left to the library)
gets each backward from autograd. The forward is called with the inputs it is
differentiated in marked (``requires_grad``; or under ``jax.vjp``) and keeps
its graph in the worker as its cache (:class:`Graph`); the backward takes the
upstream gradients and that cache and returns ``torch.autograd.grad`` (or the
``jax.vjp`` pullback) of the usual objective, the sum of each output times
its upstream gradient. What is judged is the port's ``autograd.Function`` or
``custom_vjp``, or the library's derivatives of its operations.

Recipes (:mod:`oracle.specs.calls`) say which, as plain data:
``{"call" | "dlai": NAME, "autograd": "forward", "grads": "0,1,..."}`` and
``{..., "autograd": "backward", "upstream": "0,..."}``
(:meth:`oracle.targets.boundary.RemoteTarget.autograd_pair` makes them).
Like the rest of the worker, nothing here is trusted by the judge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oracle.specs.calls import recipe_function
from oracle.targets.backends import Backend


@dataclass
class Graph:
    """A forward pass's autograd state, kept in the worker as its cache (``--autograd``).

    ``inputs``: the differentiated inputs (torch leaves, or JAX's primal values); ``outputs``: the
    forward's outputs before its own cache; ``pullback``: JAX's vjp function (``None`` for torch).
    """

    inputs: list[Any]
    outputs: tuple[Any, ...]
    pullback: Callable[..., Any] | None = None


def _positions(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _outputs_of(name: str, result: Any) -> tuple[Any, ...]:
    if not isinstance(result, tuple) or len(result) < 2:
        raise TypeError(f"{name} returned {type(result).__name__}, not (*outputs, cache)")
    return result[:-1]


def function(recipe: dict[str, str], find: Callable[[str], Any], library: Backend) -> Callable[..., Any]:
    """The callable of an autograd recipe (``"autograd"``: ``"forward"`` or ``"backward"``) in ``library``.

    ``{"call" | "dlai": NAME, "autograd": "forward", "grads": "0,1,..."}``: NAME called as the recipe
    without ``autograd`` would be, its inputs at ``grads`` differentiated; it returns ``(*outputs, Graph)``.
    ``{..., "autograd": "backward", "upstream": "0,..."}``: ``backward(*upstream, graph)``, the upstream
    gradients being those of the outputs at ``upstream``; it returns one gradient per differentiated input.
    """
    name = recipe.get("call") or recipe.get("dlai") or ""
    if library.name not in ("torch", "jax"):
        raise NotImplementedError(f"--autograd needs a torch or JAX port; this target runs as {library.name}, "
                                  f"and defines no {name}")
    if recipe["autograd"] == "forward":
        inner = recipe_function(without_graph(recipe), find)
        grads = _positions(recipe.get("grads", ""))
        return (_torch_forward if library.name == "torch" else _jax_forward)(library, name, inner, grads)
    upstream = _positions(recipe.get("upstream", ""))
    return (_torch_backward if library.name == "torch" else _jax_backward)(library, name, upstream)


def without_graph(recipe: dict[str, str]) -> dict[str, str]:
    """An autograd forward recipe as a plain call (its outputs alone are wanted); any other recipe as it is."""
    if recipe.get("autograd") != "forward":
        return recipe
    return {key: value for key, value in recipe.items() if key in ("call", "dlai")}


def _graph_of(name: str, args: tuple[Any, ...]) -> tuple[list[Any], Graph]:
    *upstream, graph = args
    if not isinstance(graph, Graph):
        raise TypeError(f"{name} (from autograd) needs the cache its forward pass returned, not "
                        f"{type(graph).__name__}")
    return upstream, graph


def _torch_forward(library: Any, name: str, inner: Callable[..., Any], grads: list[int]) -> Callable[..., Any]:
    torch = library.torch

    def forward(*args: Any) -> Any:
        given = list(args)
        for position in grads:
            given[position] = args[position].detach().requires_grad_(True)
        with torch.enable_grad():
            outputs = _outputs_of(name, inner(*given))
        return (*outputs, Graph([given[position] for position in grads], outputs))

    return forward


def _torch_backward(library: Any, name: str, upstream: list[int]) -> Callable[..., Any]:
    torch = library.torch

    def backward(*args: Any) -> Any:
        given, graph = _graph_of(name, args)
        pairs = [(graph.outputs[position], gradient) for position, gradient in zip(upstream, given, strict=True)
                 if isinstance(graph.outputs[position], torch.Tensor) and graph.outputs[position].requires_grad]
        found: tuple[Any, ...] = (None,) * len(graph.inputs)
        if pairs:
            found = torch.autograd.grad([output for output, _ in pairs],
                                        graph.inputs, [gradient.to(output.dtype) for output, gradient in pairs],
                                        allow_unused=True, retain_graph=True)
        # An input the outputs do not depend on has a gradient of zeros.
        return tuple(torch.zeros_like(point) if grad is None else grad for point, grad in zip(graph.inputs, found,
                                                                                            strict=True))

    return backward


def _jax_forward(library: Any, name: str, inner: Callable[..., Any], grads: list[int]) -> Callable[..., Any]:
    jax = library.jax

    def forward(*args: Any) -> Any:
        def outputs_of(*points: Any) -> tuple[Any, ...]:
            given = list(args)
            for position, point in zip(grads, points, strict=True):
                given[position] = point
            return _outputs_of(name, inner(*given))

        points = [args[position] for position in grads]
        outputs, pullback = jax.vjp(outputs_of, *points)
        return (*outputs, Graph(points, tuple(outputs), pullback))

    return forward


def _jax_backward(library: Any, name: str, upstream: list[int]) -> Callable[..., Any]:
    jnp = library.numpy

    def backward(*args: Any) -> Any:
        given, graph = _graph_of(name, args)
        assert graph.pullback is not None
        cotangents = [jnp.zeros_like(output) for output in graph.outputs]  # an output not differentiated: zeros
        for position, gradient in zip(upstream, given, strict=True):
            cotangents[position] = jnp.asarray(gradient, dtype=graph.outputs[position].dtype)
        return tuple(graph.pullback(tuple(cotangents)))

    return backward
