"""The options of the ``transformer-xl`` plugin, free of torch (``bench models`` lists them
without importing it)."""

from __future__ import annotations

from pydantic import Field

from bench import BenchError, Options, OutputLayer, OutputLayerChoice
from bench.training import TrainingOptions


class TransformerXLOptions(OutputLayerChoice, TrainingOptions):
    """Sizes and memory of Transformer-XL (Dai et al. 2019); ``bptt`` is the training
    segment length (the reference's ``tgt_len``). The names follow the reference's flags."""

    layers: int = Field(4, ge=1, description="decoder layers (n_layer)")
    d_model: int = Field(128, ge=1, description="width of the hidden states (d_model)")
    heads: int = Field(4, ge=1, description="attention heads (n_head)")
    d_head: int = Field(32, ge=1, description="width of each head (d_head)")
    d_inner: int = Field(512, ge=1, description="width of the position-wise feed-forward (d_inner)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on embeddings and sublayers")
    dropatt: float = Field(0.0, ge=0, lt=1, description="dropout on attention probabilities")
    mem_len: int = Field(
        64, ge=0, description="hidden states kept per layer from earlier segments in training"
    )
    eval_bptt: int = Field(
        64, ge=1, description="segment length when scoring (the reference's eval_tgt_len)"
    )
    eval_mem_len: int | None = Field(
        None, ge=0, description="memory length when scoring [default: mem_len]"
    )
    clamp_len: int | None = Field(
        None,
        ge=1,
        description="relative distances above this use the encoding of this distance "
        "(the reference's clamp_len) [default: none clamped]",
    )
    pre_lnorm: bool = Field(
        False, description="layer norm before each sublayer instead of after the residual"
    )
    adaptive_input: bool = Field(
        False,
        description="adaptive input representations (Baevski & Auli 2019) with the bands of "
        "the adaptive output layer: needs output=adaptive, whose cutoffs and div_value it uses",
    )
    tied: bool = Field(
        True,
        description="share input and output word matrices: the adaptive input's bands with "
        "the adaptive softmax's clusters, or the embedding with a full softmax",
    )
    tie_projections: bool = Field(
        True,
        description="with adaptive input and tied: also share each tail band's projection "
        "(the reference's tie_projs for every cluster but the head)",
    )
    init_std: float = Field(0.02, gt=0, description="std of the normal initialisation")

    eval_batch_size: int = Field(
        1,
        ge=1,
        description="not used: scoring reads one stream, eval_bptt tokens at a time",
    )

    @property
    def scoring_mem_len(self) -> int:
        return self.mem_len if self.eval_mem_len is None else self.eval_mem_len

    def check_output_layer(self, layer: type[OutputLayer], layer_options: Options) -> None:
        if self.adaptive_input and self.output != "adaptive":
            raise BenchError(
                f"adaptive_input=true takes its bands from the adaptive output layer; "
                f"set output=adaptive (got output={self.output!r})"
            )
        if self.tied and not self.adaptive_input and not layer.tieable:
            raise BenchError(
                f"tied=true needs adaptive_input=true with output=adaptive, or an output layer "
                f"with one word matrix (full, sampled, nce, blackout, class); "
                f"output={self.output!r} has none: set tied=false"
            )
