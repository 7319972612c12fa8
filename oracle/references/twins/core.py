"""A torch twin: a differentiable tensor function, and the one generic numpy wrapper around it.

Splitting a twin in two keeps the reference checkable on its own terms: the
tensor function is what ``torch.autograd.gradcheck`` can differentiate
(``tests/test_twin_gradcheck.py``), and the wrapper, shared by every twin,
is the only code that converts arrays, makes leaves and runs backward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch

from oracle.references.twins.convert import float_dtype, tensor, to_numpy, upstream_tensors
from oracle.references.twins.device import resolve_device
from oracle.specs.spec import Arrays, Evaluation

#: ``function(tensors) -> {output name: tensor}``; inputs in impl's names and layouts.
TensorFunction = Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class TorchTwin:
    """A layer's torch twin; calling it is :data:`oracle.specs.spec.Twin`.

    Attributes
    ----------
    name
        The layer's name, for messages.
    function
        The forward pass on tensors: takes every input under impl's name and
        in impl's layout (floats in the inputs' dtype, indices int64, masks
        bool) and returns the outputs by name. Built from differentiable torch
        operations only (any layout mapping included), so autograd returns
        gradients directly in impl's layouts. It may raise ``TypeError`` or
        ``ValueError`` on inputs it rejects.
    differentiable
        Names of the inputs that get gradients, in the spec's ``grads`` order;
        empty for a forward-only twin. ``None`` (the default): the ``grads`` of
        the :class:`~oracle.specs.spec.LayerSpec` that uses the twin, which binds
        them through :meth:`with_gradients`, so the names are written once.
    """

    name: str
    function: TensorFunction
    differentiable: tuple[str, ...] | None = None

    def with_gradients(self, names: tuple[str, ...]) -> TorchTwin:
        """This twin differentiating ``names``; ``ValueError`` if it already names other inputs."""
        if self.differentiable is None:
            return replace(self, differentiable=tuple(names))
        if tuple(self.differentiable) != tuple(names):
            raise ValueError(f"twin {self.name!r} differentiates {self.differentiable}, its spec names {names}")
        return self

    @property
    def gradient_names(self) -> tuple[str, ...]:
        """:attr:`differentiable`, once known; ``ValueError`` for a twin not yet bound to a spec."""
        if self.differentiable is None:
            raise ValueError(f"twin {self.name!r} has no gradient names: give them, or use it through a LayerSpec")
        return self.differentiable

    def to_tensors(self, inputs: Mapping[str, np.ndarray],
                   device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """Copies of ``inputs`` on ``device``, the differentiable ones leaves with ``requires_grad``.

        Parameters
        ----------
        inputs
            The twin's numpy inputs (never modified).
        device
            ``"cpu"``, ``"cuda"`` or ``"cuda:K"``.

        Returns
        -------
        dict
            Same names, same order: floats in their own dtype, integers as
            int64, booleans as bool.

        Raises
        ------
        TypeError
            If a float input is not float32/float64, the float inputs mix
            dtypes, or a differentiable input is not float.
        RuntimeError
            If CUDA is requested but unavailable.
        """
        device = resolve_device(device)
        floats = [name for name, value in inputs.items() if np.asarray(value).dtype.kind == "f"]
        names = list(dict.fromkeys([*self.gradient_names, *floats]))
        if names:
            float_dtype(inputs, names)
        tensors = {name: tensor(value, device) for name, value in inputs.items()}
        for name in self.gradient_names:
            tensors[name].requires_grad_(True)
        return tensors

    def __call__(self, inputs: Arrays, upstream: Arrays, device: str = "cpu") -> Evaluation:
        """Run the twin: forward on copies of ``inputs``, then backward from ``upstream``.

        Parameters
        ----------
        inputs
            The layer's numpy inputs by name (never modified).
        upstream
            One gradient per differentiated output, shaped like it (cast to
            the output's dtype); empty for a loss layer, whose single scalar output is
            then differentiated. Ignored by a forward-only twin.
        device
            ``"cpu"``, ``"cuda"`` or ``"cuda:K"``.

        Returns
        -------
        Evaluation
            ``outputs`` and ``grads`` (one per :attr:`differentiable` name,
            zeros where an input does not reach the outputs) as host numpy
            arrays in impl's layouts and the inputs' dtype.
        """
        tensors = self.to_tensors(inputs, device)
        # The reference must differentiate even when a caller runs it under no_grad.
        with torch.enable_grad():
            outputs = self.function(tensors)
        grads = self._gradients(outputs, {name: tensors[name] for name in self.gradient_names}, upstream)
        return Evaluation(outputs={name: to_numpy(value) for name, value in outputs.items()}, grads=grads)

    @staticmethod
    def _gradients(outputs: Mapping[str, torch.Tensor], leaves: Mapping[str, torch.Tensor],
                   upstream: Arrays) -> Arrays:
        if not leaves:
            return {}
        seeds = upstream_tensors(outputs, upstream)
        pairs = [(outputs[name], seed) for name, seed in seeds.items() if outputs[name].requires_grad]
        found: tuple[torch.Tensor | None, ...] = (None,) * len(leaves)
        if pairs:
            # autograd.grad rather than backward: nothing accumulates in .grad, so a call leaves no state behind.
            found = torch.autograd.grad([output for output, _ in pairs], list(leaves.values()),
                                        [grad for _, grad in pairs], allow_unused=True)
        return {name: to_numpy(torch.zeros_like(leaf) if grad is None else grad)
                for (name, leaf), grad in zip(leaves.items(), found, strict=True)}

