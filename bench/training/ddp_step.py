"""The training step as several ranks take it: the loss through DistributedDataParallel,
and the gradient exchange DDP cannot do itself (sparse gradients of output layers)."""

from __future__ import annotations

from typing import Any

from bench.machine.distributed import current


class TrainingStep:
    """A module's ``training_loss`` as the ranks call it, and the gradient exchange.

    In one process it is ``training_loss`` itself. With several ranks the loss goes
    through DistributedDataParallel, which averages the gradients during the backward
    pass; DDP only hooks a module's ``forward``, so a thin module whose forward is the
    loss goes around the network (its parameters are the network's).

    DDP expects sparse gradients only from ``nn.Embedding(sparse=True)``; the word
    matrices of sampled, NCE, BlackOut and class output layers with ``sparse_grad`` take
    them through ``F.embedding`` too, so DDP is told to leave those layers alone and
    :meth:`sync_gradients` averages their gradients after the backward pass with
    ``torch.distributed.all_reduce``, which gloo does for sparse tensors as well.
    """

    def __init__(self, module: Any, options: Any) -> None:
        self.after_backward: list[Any] = []
        if not current().distributed:
            self._forward = module.training_loss
            return
        import torch
        from torch.nn.parallel import DistributedDataParallel

        class _Loss(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.network = module

            def forward(self, inputs: Any, targets: Any, state: Any) -> Any:
                return self.network.training_loss(inputs, targets, state)

        wrapper = _Loss()
        ignored = {
            f"{name}.{param_name}" if name else param_name
            for name, part in wrapper.named_modules()
            if getattr(part, "sparse_grad", False) and not isinstance(part, torch.nn.Embedding)
            for param_name, _ in part.named_parameters()
        }
        kept = {
            id(param)
            for name, part in wrapper.named_modules()
            for param_name, param in part.named_parameters(recurse=False)
            if f"{name}.{param_name}" not in ignored
        }
        by_name = dict(wrapper.named_parameters(remove_duplicate=False))
        for name in sorted(ignored):
            param = by_name[name]
            if id(param) not in kept and all(param is not p for p in self.after_backward):
                self.after_backward.append(param)
        if ignored:
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                wrapper, sorted(ignored)
            )
        device = next(module.parameters()).device
        uses_all = getattr(getattr(module, "output", None), "uses_every_parameter", True)
        self._forward = DistributedDataParallel(
            wrapper,
            device_ids=[device.index] if device.type == "cuda" else None,
            forward_sync_buffers=False,  # buffers (proposals, frequency ranks) never change
            # the rare clusters of an adaptive softmax go unused in some steps
            find_unused_parameters=not uses_all,
        )

    def __call__(self, inputs: Any, targets: Any, state: Any) -> Any:
        return self._forward(inputs, targets, state)

    def no_sync(self) -> Any:
        """A context in which backward passes accumulate gradients without exchanging them
        (DDP's ``no_sync``): the batches of an update but its last (``update_freq``)."""
        from contextlib import nullcontext

        return self._forward.no_sync() if hasattr(self._forward, "no_sync") else nullcontext()

    def sync_gradients(self) -> None:
        """Average the gradients DDP left alone (see the class docstring) over the ranks.

        Such layers use every parameter at every step (the rows of the targets and the
        samples, shared by the batch), so every rank has a gradient to contribute.
        """
        import torch.distributed as dist

        for param in self.after_backward:
            grad = param.grad.coalesce() if param.grad.is_sparse else param.grad
            dist.all_reduce(grad)
            param.grad = grad.div_(current().size)
