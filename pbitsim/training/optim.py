"""The rules' optimizers: Adam, AdamW and SGD, bit for bit torch's, without ``torch._dynamo``.

``torch.optim``'s optimizers import ``torch._dynamo`` when they are built (``add_param_group``
is wrapped by ``torch._disable_dynamo``) and on every ``step`` (``_use_grad_for_differentiable``
calls ``torch._dynamo.graph_break``): 1.5-2.1 s of CPU before a run's first step, for a
compiler no rule uses. These classes do what torch 2.13's default CPU implementation does
(``foreach`` and ``fused`` unset: the single-tensor loop, ``_single_tensor_adam`` and
``_single_tensor_sgd``), the same tensor operations in the same order with the same Python-float
scalars, so the weights come out identical; ``tests/training/test_optim.py`` holds them to
``torch.optim`` over many steps with ``torch.equal``.

Their ``state`` (per parameter: ``step`` as a 0-d float32 tensor, ``exp_avg``, ``exp_avg_sq``;
SGD with momentum: ``momentum_buffer``), ``param_groups`` (the same keys, in the same order) and
``state_dict()`` / ``load_state_dict()`` are torch's format, so a checkpoint written by
``torch.optim.Adam`` resumes here bit-identically and one written here loads into torch's.

Only what the rules use is offered, on torch's default CPU path: learning rate, betas, eps and
weight decay (L2, or AdamW's decoupled); ``amsgrad``, ``maximize``, SGD's momentum, dampening and
nesterov, ``foreach``, ``fused``, ``capturable``, ``differentiable``, tensor learning rates,
complex parameters and sparse gradients are refused (``ValueError`` / ``RuntimeError``) when
built or loaded from a state dict, rather than written here unused. The groups still hold those
keys at torch's defaults, so the state dicts stay torch's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import torch

__all__ = ["Adam", "AdamW", "SGD"]


def _scalar_dtype() -> torch.dtype:
    """The dtype of the ``step`` counter (torch.optim.optimizer._get_scalar_dtype, not fused)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class _Optimizer:
    """What ``torch.optim.Optimizer`` provides that the rules and the trainer use: parameter
    groups with defaults, per-parameter ``state``, ``zero_grad``, ``state_dict`` and
    ``load_state_dict`` (torch's format and checks), without its hooks and compiler guards."""

    #: torch's keys whose default only is supported (another value selects code the rules
    #: never run: another implementation, or an option pbitsim does not offer)
    _FIXED: dict[str, Any] = {"foreach": None, "fused": None, "capturable": False,
                              "differentiable": False, "maximize": False}

    @classmethod
    def _check_fixed(cls, options: dict[str, Any], where: str) -> None:
        for key, default in cls._FIXED.items():
            v = options.get(key, default)
            if not (v == default or (default is None and v is False)):
                raise ValueError(f"{cls.__name__}: {where}{key}={v!r} is not supported (only "
                                 "the options the rules use, on torch's default CPU path)")

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self._check_fixed(defaults, "")
        if isinstance(defaults["lr"], torch.Tensor):
            raise ValueError(f"{type(self).__name__}: a tensor learning rate is not supported")
        self.defaults = defaults
        if isinstance(params, torch.Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + torch.typename(params))
        self.state: defaultdict[torch.Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.param_groups)} group(s))"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (``params`` and any of the defaults), as torch does."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, torch.Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            param_group["params"] = list(params)
        if any(isinstance(p, tuple) for p in param_group["params"]):
            raise ValueError("named parameters are not supported")
        for p in param_group["params"]:
            if not isinstance(p, torch.Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + torch.typename(p))
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        if len(param_group["params"]) != len(set(param_group["params"])):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen: set[torch.Tensor] = set()
        for group in self.param_groups:
            seen.update(group["params"])
        if not seen.isdisjoint(param_group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients (``None``, or zeroed in place), as torch does."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                for p in params:
                    if p.grad.is_sparse or torch.is_complex(p):
                        raise RuntimeError(f"{type(self).__name__} does not support sparse "
                                           "gradients or complex parameters")
                self._update(group, params)
        return loss

    def _update(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        raise NotImplementedError

    # ---- torch's state_dict format ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``: torch's
        packing (parameters numbered in group order; the tensors are the live ones)."""
        mapping: dict[int, int] = {}
        start = 0

        def pack(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start)
                            if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {(mapping[id(k)] if isinstance(k, torch.Tensor) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict of this class or of its ``torch.optim`` counterpart: torch's checks
        (group count and sizes: ``ValueError``), its casts (state tensors to each parameter's
        dtype and device, ``step`` as saved) and its hyperparameters from the saved groups."""
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups), strict=True))

        def cast(param, value, key=None):
            if isinstance(value, torch.Tensor):
                if key == "step":
                    return value
                if param.is_floating_point():
                    return value.to(dtype=param.dtype, device=param.device)
                return value.to(device=param.device)
            if isinstance(value, dict):
                return {k: cast(param, v, key=k) for k, v in value.items()}
            if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
                return type(value)(cast(param, v) for v in value)
            return value

        state: defaultdict[torch.Tensor, dict[Any, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = cast(id_map[k], v)
            else:
                state[k] = v
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
        self.state, self.param_groups = state, saved_groups
        self._after_load()

    def _after_load(self) -> None:
        """Fill what older state dicts lack (torch's ``__setstate__``) and refuse what they
        ask for that is not supported."""
        for group in self.param_groups:
            for key, default in self._FIXED.items():
                if key in self.defaults:
                    group.setdefault(key, default)
            self._check_fixed(group, "the state dict asks for ")


class Adam(_Optimizer):
    """``torch.optim.Adam`` (torch 2.13, CPU, single-tensor path), its results bit for bit."""

    _FIXED = {**_Optimizer._FIXED, "amsgrad": False}

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not all(isinstance(b, float) for b in betas):
            raise ValueError("betas must be floats")
        super().__init__(params, {
            "lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
            "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
            "capturable": capturable, "differentiable": differentiable, "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay})

    def _after_load(self) -> None:
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", False)
        super()._after_load()
        for group in self.param_groups:  # a step saved as a number (torch's old format)
            for p in group["params"]:
                s = self.state.get(p, {})
                if s and not torch.is_tensor(s["step"]):
                    s["step"] = torch.tensor(float(s["step"]), dtype=_scalar_dtype())

    def _update(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        # torch.optim.Adam._init_group, then _single_tensor_adam (amsgrad, maximize,
        # capturable and differentiable off; real parameters), operation for operation
        beta1, beta2 = group["betas"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        for param in params:
            state = self.state[param]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=_scalar_dtype(), device="cpu")
                state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(param,
                                                       memory_format=torch.preserve_format)
        for param in params:
            state = self.state[param]
            grad = param.grad
            exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
            step_t += 1
            if wd != 0:
                if decoupled:
                    param.mul_(1 - lr * wd)
                else:
                    grad = grad.add(param, alpha=wd)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = step_t.item()
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2 ** 0.5
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 0.01)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def _after_load(self) -> None:
        super()._after_load()
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class SGD(_Optimizer):
    """``torch.optim.SGD`` (torch 2.13, CPU, single-tensor path), without momentum: its results
    bit for bit."""

    _FIXED = {**_Optimizer._FIXED, "momentum": 0, "dampening": 0, "nesterov": False}

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, {
            "lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
            "foreach": foreach, "differentiable": differentiable, "fused": fused})

    def _update(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        # torch.optim.SGD._init_group and _single_tensor_sgd without momentum
        wd, lr = group["weight_decay"], group["lr"]
        for param in params:
            grad = param.grad
            if wd != 0:
                grad = grad.add(param, alpha=wd)
            param.add_(grad, alpha=-lr)
