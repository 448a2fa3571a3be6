"""Everything a training run is configured by, in one flat dataclass (METHOD.md §5 defaults)."""

from dataclasses import asdict, dataclass, field, fields

from studio.errors import StudioError


@dataclass
class TrainConfig:
    base_model: str
    out_dir: str
    pooling: str | None = None            # None: the base model's default (mean for minilm, last for decoders)
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    batch_size: int = 32                  # the paper: 2048 (global, across processes)
    mini_batch: int | None = None         # GradCache chunk; None: no caching
    temperature: float = 0.02
    lr: float = 1e-4
    weight_decay: float = 0.1
    warmup_steps: int | None = None       # None: min(100, 10% of the steps)
    max_steps: int | None = None          # None: one epoch
    max_length: int | None = None         # None: the model's own (minilm 256, else 512)
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool | None = None  # None: on with CUDA, off on CPU (it costs ~30% speed)
    seed: int = 42
    families: list[str] = field(default_factory=list)   # empty: all
    languages: list[str] = field(default_factory=list)  # empty: all
    heldout_share: float = 0.1
    checkpoint_every: int = 50
    name: str | None = None

    def validate(self) -> "TrainConfig":
        if self.pooling not in (None, "last", "mean"):
            raise StudioError("pooling must be last or mean")
        if self.batch_size < 2:
            raise StudioError("the batch size must be at least 2: in-batch negatives need company")
        if self.mini_batch is not None and self.mini_batch < 1:
            raise StudioError("--mini-batch must be a positive number of texts")
        if self.temperature <= 0:
            raise StudioError("the temperature must be positive (0.02 is the paper's)")
        if self.lr <= 0:
            raise StudioError("the learning rate must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise StudioError("--max-steps must be at least 1")
        if not 0 <= self.heldout_share < 1:
            raise StudioError("the held-out share must be between 0 and 1 (e.g. 0.1)")
        if self.checkpoint_every < 1:
            raise StudioError("checkpoint every must be at least 1 step")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
