"""Everything a training run is configured by, in one flat dataclass (METHOD.md §5 defaults).

Each field is declared once, with its help text: the `train` command's flags, the job's argument
list and the Train tab's form are all derived from these fields (studio/settings.py).
"""

from dataclasses import asdict, dataclass, fields

from studio.errors import StudioError
from studio.settings import setting

KEEP_CHOICES = ["best", "last"]


@dataclass
class TrainConfig:
    # Empty by default, so that `train --resume --out DIR` needs neither (the checkpoint has them);
    # a new run without them gets a one-line reason from the command.
    base_model: str = setting("", help="minilm, smollm2, a local folder or a hub id", label="Base model")
    out_dir: str = setting("", help="folder for the checkpoint and the exported model", label="Output folder",
                           flag="--out")
    pooling: str | None = setting(None, choices=["last", "mean"], label="Pooling",
                                  help="default: the model's own (mean for encoders, last token (EOS) for decoders)")
    lora: bool = setting(False, label="LoRA", help="train a LoRA adapter on all linear layers")
    lora_r: int = setting(16, label="LoRA rank r", help="rank of the LoRA matrices (the paper: 16)")
    lora_alpha: int = setting(32, label="LoRA α", help="LoRA scaling numerator (the paper: 32)")
    lora_dropout: float = setting(0.0, label="LoRA dropout", help="dropout on the LoRA branch's input")
    batch_size: int = setting(32, label="Batch size",
                              help="global batch: in-batch negatives, bigger is better (the paper: 2048)")
    mini_batch: int | None = setting(None, label="Mini-batch",
                                     help="cache negatives (GradCache): embed at most this many texts at once; "
                                          "empty: no caching")
    temperature: float = setting(0.02, label="Temperature τ", help="scores are cosine ÷ τ (the paper: 0.02)")
    mask_duplicates: bool = setting(True, label="Mask duplicate negatives",
                                    help="leave out of a query's negatives any text equal to its positive and the "
                                         "positives of examples with the same query")
    lr: float = setting(1e-4, label="Learning rate", help="peak learning rate (the paper: 1e-4 with LoRA)")
    weight_decay: float = setting(0.1, label="Weight decay",
                                  help="AdamW weight decay on matrices, not on biases and norms (the paper: 0.1)")
    warmup_steps: int | None = setting(None, label="Warm-up steps",
                                       help="linear warm-up, then linear decay; empty: min(100, 10% of the steps)")
    max_steps: int | None = setting(None, label="Max steps", help="empty: one epoch")
    max_length: int | None = setting(None, label="Max length (tokens)",
                                     help="empty: the model's own (minilm 256, else 512)")
    max_grad_norm: float = setting(1.0, label="Max gradient norm", help="clip gradients to this norm; 0: no clipping")
    gradient_checkpointing: bool | None = setting(None, label="Gradient checkpointing",
                                                  help="recompute activations to save memory; default: on with "
                                                       "CUDA, off on CPU (where it costs ~30% speed)")
    seed: int = setting(42, label="Seed", help="seeds the held-out split, the batches and the weights")
    families: list[str] = setting(default_factory=list, flag="--family", label="Families",
                                  help="train on this family only (repeatable); none: all families")
    languages: list[str] = setting(default_factory=list, flag="--language", label="Languages",
                                   help="train on this language only (repeatable); none: all languages")
    heldout_share: float = setting(0.1, label="Held-out share",
                                   help="share of the tasks (and of the documents of corpus-grounded examples) kept "
                                        "out of training to evaluate the run")
    heldout_passages: int = setting(1000, label="Corpus passages while training",
                                    help="corpus-grounded held-out queries are scored during training among their "
                                         "positives and this many other passages (seeded); 0: all. The final "
                                         "evaluation searches the whole corpus")
    eval_every: int | None = setting(None, label="Evaluate every (steps)",
                                     help="held-out nDCG@10 at step 0 and every N steps; empty: every ~10% of the "
                                          "steps when there are held-out examples; 0: never")
    keep: str = setting("best", choices=KEEP_CHOICES, label="Export",
                        help="best: the checkpoint with the best held-out nDCG@10 (the base model if no step "
                             "beat it); last: the final weights")
    query_instruction: str | None = setting(None, label="Query instruction saved with the model",
                                            help="saved as the model's query prompt; default: the most frequent "
                                                 "instruction of the retrieval families")
    checkpoint_every: int = setting(50, label="Checkpoint every (steps)", help="steps between checkpoints")
    name: str | None = setting(None, label="Run name", help="default: the output folder's name")

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
        if not 0 <= self.lora_dropout < 1:
            raise StudioError("the LoRA dropout must be between 0 and 1")
        if self.heldout_passages < 0:
            raise StudioError("--heldout-passages must be 0 (the whole corpus) or a number of passages")
        if self.eval_every is not None and self.eval_every < 0:
            raise StudioError("--eval-every must be 0 (never) or a number of steps")
        if self.keep not in KEEP_CHOICES:
            raise StudioError("--keep must be best or last")
        if self.checkpoint_every < 1:
            raise StudioError("checkpoint every must be at least 1 step")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
