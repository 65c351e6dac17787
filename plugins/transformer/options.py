"""The options of the ``transformer`` model plugin (free of torch, so listings stay instant)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from bench import BenchError, Options, OutputLayer, OutputLayerChoice
from bench.training import TrainingOptions


class TransformerOptions(OutputLayerChoice, TrainingOptions):
    """A decoder-only Transformer LM; the training options are bench.training's."""

    layers: int = Field(2, ge=1, description="Transformer blocks")
    d_model: int = Field(128, ge=1, description="width of the residual stream (and embeddings)")
    heads: int = Field(4, ge=1, description="attention heads (d_model must divide by it)")
    ffn_size: int = Field(512, ge=1, description="inner size of each block's feed-forward layer")
    norm: Literal["pre", "post"] = Field(
        "pre",
        description="pre: LayerNorm before attention and feed-forward (GPT-2); post: after "
        "each residual sum (Vaswani et al., pytorch/examples' TransformerModel); a final "
        "LayerNorm follows the last block either way",
    )
    positions: Literal["learned", "sinusoidal"] = Field(
        "learned", description="learned position embeddings or fixed sinusoids"
    )
    activation: Literal["gelu", "relu"] = Field("gelu", description="feed-forward activation")
    tokens_per_sample: int = Field(
        128,
        ge=1,
        description="training block length in tokens, and the longest context the model "
        "attends over; scoring slides windows of this length over the split",
    )
    bptt: int = Field(
        128, ge=1, description="the same as tokens_per_sample (set tokens_per_sample instead)"
    )
    eval_stride: int | None = Field(
        None,
        ge=1,
        description="scoring: the window advances by this many tokens, so every token but "
        "the split's first ones sees at least tokens_per_sample - eval_stride tokens of "
        "context (None: tokens_per_sample / 2)",
    )
    dropout: float = Field(
        0.1, ge=0, lt=1, description="dropout on attention weights, residual branches and FFN"
    )
    embedding_dropout: float | None = Field(
        None, ge=0, lt=1, description="dropout on embeddings plus positions (None: dropout)"
    )
    scale_embedding: bool = Field(
        True, description="multiply token embeddings by sqrt(d_model) before adding positions"
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
        "(fairseq's --tie-adaptive-proj)",
    )
    init_range: float = Field(
        0.1, gt=0, description="uniform init range of the embedding and output weights"
    )
    # the training defaults of a small Transformer rather than of an LSTM
    optimizer: Literal["sgd", "adam", "adamw", "adagrad"] = Field(
        "adamw", description="sgd, adam, adamw or adagrad"
    )
    lr: float = Field(0.001, gt=0, le=3.4e38, description="peak learning rate")
    lr_schedule: Literal["plateau", "step", "none", "inverse_sqrt", "cosine"] = Field(
        "cosine",
        description="per epoch: plateau or step (see the lstm plugin); per update: "
        "inverse_sqrt or cosine, each after warmup_steps of linear warm-up",
    )
    warmup_steps: int = Field(
        100, ge=0, description="linear warm-up updates of inverse_sqrt and cosine"
    )
    clip: float = Field(1.0, ge=0, description="gradient-norm clipping threshold (0: off)")
    weight_decay: float = Field(0.01, ge=0, description="weight decay (decoupled with adamw)")
    batch_size: int = Field(32, ge=1, description="blocks per training batch")

    @model_validator(mode="before")
    @classmethod
    def _one_block_length(cls, values: Any) -> Any:
        """``bptt`` is the loop's name for the block length: it follows tokens_per_sample
        (also when tokens_per_sample is assigned later); bptt alone is refused."""
        if not isinstance(values, dict):
            return values
        default = cls.model_fields["tokens_per_sample"].default
        if "tokens_per_sample" not in values and int(values.get("bptt", default)) != default:
            raise ValueError("set tokens_per_sample, not bptt (the transformer's block length)")
        return {**values, "bptt": values.get("tokens_per_sample", default)}

    @model_validator(mode="after")
    def _shapes_fit(self) -> TransformerOptions:
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must divide by heads ({self.heads})")
        if self.eval_stride is not None and self.eval_stride > self.tokens_per_sample:
            raise ValueError(
                f"eval_stride ({self.eval_stride}) cannot exceed tokens_per_sample "
                f"({self.tokens_per_sample}): tokens would go unscored"
            )
        return self

    @property
    def stride(self) -> int:
        """The scoring stride (``eval_stride``, or half a block)."""
        return self.eval_stride or max(1, self.tokens_per_sample // 2)

    @property
    def output_size(self) -> int:
        return self.d_model

    def check_output_layer(self, layer: type[OutputLayer], layer_options: Options) -> None:
        if self.adaptive_input and self.output != "adaptive":
            raise BenchError(
                f"adaptive_input=true takes its bands from the adaptive output layer; "
                f"set output=adaptive (got output={self.output!r})"
            )
        if self.tied and not self.adaptive_input and not layer.tieable:
            raise BenchError(
                f"tied=true needs adaptive_input=true with output=adaptive, or an output layer "
                f"with one word matrix to share with the embedding; output layer "
                f"{self.output!r} has none (set tied=false)"
            )
