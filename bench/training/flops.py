"""Model FLOPs per token of the recurrent models, and the fraction of a device's peak a
throughput reaches (model FLOPs per token x tokens/s / peak), so a speed figure comes
with its distance to the limit.

Counted as in the usual "model FLOPs" convention: the matrix products only (2 FLOPs per
multiply-add), training = 3 x the forward pass (backward costs about twice the forward),
elementwise work, embeddings lookups and the optimiser left out. The output layer is
counted as the full softmax over ``vocab_size`` words; an approximate output layer
(sampled, class, adaptive) does less, so its fraction of peak is an upper estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

# gates per cell: an LSTM has four, a GRU three, an Elman cell one
GATES = {"lstm": 4, "gru": 3, "rnn": 1}

# Dense peak FLOP/s of some accelerators, by precision (vendor data sheets, without
# sparsity). A device not listed has no known peak and gets no fraction.
PEAK_FLOPS = {
    "H200": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12, "fp16": 989.4e12},
    "H100 80GB HBM3": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12, "fp16": 989.4e12},
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12},
}


def recurrent_forward_flops(
    cell: str,
    layers: int,
    embedding_size: int,
    hidden_size: int,
    vocab_size: int,
    projection_size: int | None = None,
) -> int:
    """Forward-pass FLOPs per token of an embedding + stacked cells + full-softmax model."""
    gates = GATES[cell]
    output = projection_size or hidden_size
    flops = 0
    for layer in range(layers):
        inputs = embedding_size if layer == 0 else output
        flops += 2 * gates * hidden_size * (inputs + output)  # input and recurrent products
        if projection_size:
            flops += 2 * hidden_size * projection_size
    return flops + 2 * output * vocab_size


def training_flops(forward_flops: int) -> int:
    """Forward and backward: the backward pass costs about twice the forward."""
    return 3 * forward_flops


def peak_flops(device_name: str, precision: str = "fp32") -> float | None:
    """The dense peak of a listed device at ``precision``; None when not known."""
    for name, peaks in PEAK_FLOPS.items():
        if name.lower() in device_name.lower():
            return peaks.get(precision)
    return None


def fraction_of_peak(
    flops_per_token: float, tokens_per_second: float, peak: float | None
) -> float | None:
    """Achieved model FLOP/s over the peak; None without a known peak."""
    if not peak:
        return None
    return flops_per_token * tokens_per_second / peak


@dataclass(frozen=True)
class TrainingUtilisation:
    """How much arithmetic a run's training did per second, against the device's peak."""

    forward_flops_per_token: int
    flops_per_second_per_device: float  # training FLOPs (3 x forward) x tokens/s / devices
    precision: str
    fraction: float | None  # of one device's dense peak at ``precision``; None: peak unknown

    def describe(self) -> str:
        """One line for a run's summary, e.g. '5.28 MFLOP/token forward (x3 trained),
        1.96 TFLOP/s per device, 2.9% of its fp32 peak'."""
        text = (
            f"{_scaled(self.forward_flops_per_token)}FLOP/token forward (x3 trained), "
            f"{_scaled(self.flops_per_second_per_device)}FLOP/s per device"
        )
        if self.fraction is None:
            return text + " (no listed peak for this device)"
        return text + f", {self.fraction:.1%} of its {self.precision} peak"

    @classmethod
    def from_metrics(cls, metrics: dict[str, float], precision: str) -> TrainingUtilisation | None:
        """Back from the figures a run stored (:meth:`metrics`); None when it stored none."""
        if "model_flops_per_token" not in metrics:
            return None
        return cls(
            forward_flops_per_token=int(metrics["model_flops_per_token"]),
            flops_per_second_per_device=metrics["train_model_flops_per_second_per_device"],
            precision=precision,
            fraction=metrics.get("train_fraction_of_peak"),
        )

    def metrics(self) -> dict[str, float]:
        """The figures as run metrics."""
        figures = {
            "model_flops_per_token": float(self.forward_flops_per_token),
            "train_model_flops_per_second_per_device": self.flops_per_second_per_device,
        }
        if self.fraction is not None:
            figures["train_fraction_of_peak"] = self.fraction
        return figures


def _scaled(value: float) -> str:
    """Three significant digits and a prefix: 1870592 -> '1.87 M'."""
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}"
    return f"{value:.3g} "


def training_utilisation(
    forward_flops_per_token: int,
    tokens_per_second: float,
    device_name: str,
    precision: str = "fp32",
    devices: int = 1,
) -> TrainingUtilisation:
    """The training arithmetic rate of ``tokens_per_second`` (all ``devices`` together),
    per device, and its fraction of ``device_name``'s peak at ``precision`` where listed."""
    flops_per_token = training_flops(forward_flops_per_token)
    per_device = tokens_per_second / devices
    return TrainingUtilisation(
        forward_flops_per_token=forward_flops_per_token,
        flops_per_second_per_device=flops_per_token * per_device,
        precision=precision,
        fraction=fraction_of_peak(flops_per_token, per_device, peak_flops(device_name, precision)),
    )
