"""A run's training throughput, and the arithmetic rate it means against the device's peak."""

from __future__ import annotations

from bench.training.flops import TrainingUtilisation, training_utilisation


class TrainThroughput:
    """Training tokens (all ranks together) and device-synchronised seconds, summed over
    epochs."""

    def __init__(self) -> None:
        self.tokens = 0
        self.seconds = 0.0

    def add(self, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.seconds += seconds

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None

    def utilisation(
        self,
        forward_flops_per_token: int | None,
        device_name: str,
        precision: str,
        devices: int,
    ) -> TrainingUtilisation | None:
        """The model FLOP/s per device of this training, and its fraction of the device's
        peak where :mod:`bench.training.flops` lists it; None for a model whose FLOPs are not
        counted, or when nothing was trained in this process."""
        rate = self.tokens_per_second
        if not forward_flops_per_token or not rate:
            return None
        return training_utilisation(forward_flops_per_token, rate, device_name, precision, devices)
