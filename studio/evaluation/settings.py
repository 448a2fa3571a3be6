"""What one evaluation is configured by, declared once: the `eval` command's flags, the argument
list of an evaluation job and the evaluation itself all come from `EvalSettings`."""

from dataclasses import asdict, dataclass

from studio.errors import StudioError
from studio.evaluation.corpus_set import CORPUS_PREFIX, corpus_of
from studio.settings import setting, to_argv

HELDOUT_PREFIX = "heldout:run-"


def heldout_run_of(spec: str) -> int | None:
    """N for a dataset named `heldout:run-N` (a run's held-out set); None for a BEIR folder or zip."""
    if not spec.startswith(HELDOUT_PREFIX):
        return None
    try:
        return int(spec.removeprefix(HELDOUT_PREFIX))
    except ValueError:
        raise StudioError(f"{spec!r} is not a held-out set: write heldout:run-N with N a run id")


@dataclass
class EvalSettings:
    model: str = setting(help="minilm, smollm2, a model folder (e.g. a run's output) or a hub id")
    beir: str | None = setting(None, group="source", required_group=True,
                               help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or a .zip of one")
    heldout_run: int | None = setting(None, group="source", metavar="RUN_ID",
                                      help="the held-out examples of a training run")
    corpus: str | None = setting(None, group="source", metavar="NAME",
                                 help="the queries of a corpus held out of every run, searched among all its passages")
    split: str = setting("test", help="qrels split of a BEIR dataset (default: test)")
    instruction: str | None = setting(None, group="instruction", metavar="TEXT",
                                      help="one task instruction for every query, replacing the model's saved "
                                           "query prompt (default: the saved prompt; on a run's held-out set, "
                                           "each query's own task instruction for models trained with them)")
    no_instruction: bool = setting(False, group="instruction",
                                   help="give queries no instruction, even when the model has a saved query prompt")
    keep_identical_ids: bool = setting(False, help="keep a document whose id equals the query's id in that query's "
                                                   "ranking (by default it is left out, as MTEB does for ArguAna)")
    max_length: int | None = setting(None, metavar="N", help="truncate inputs to this many tokens "
                                                            "(default: the model's own)")
    pooling: str | None = setting(None, choices=("mean", "last"), help="override the model's pooling")

    @classmethod
    def for_dataset(cls, model: str, spec: str, split: str = "test", **options) -> "EvalSettings":
        """Settings naming the dataset as the UI does: `heldout:run-N`, `corpus:NAME` or a BEIR folder or zip."""
        run_id = heldout_run_of(spec)
        if run_id is not None:
            return cls(model=model, heldout_run=run_id, **options)
        corpus = corpus_of(spec)
        if corpus is not None:
            return cls(model=model, corpus=corpus, **options)
        return cls(model=model, beir=spec, split=split, **options)

    @property
    def dataset_spec(self) -> str:
        if self.heldout_run is not None:
            return f"{HELDOUT_PREFIX}{self.heldout_run}"
        if self.corpus is not None:
            return CORPUS_PREFIX + self.corpus
        return self.beir or ""

    def validate(self) -> "EvalSettings":
        if not (self.model or "").strip():
            raise StudioError("choose a model to evaluate")
        if sum(source is not None for source in (self.beir, self.heldout_run, self.corpus)) != 1:
            raise StudioError("give one dataset: a BEIR folder or zip (--beir), a run's held-out set (--heldout-run) "
                              "or a corpus's held-out queries (--corpus)")
        if self.max_length is not None and self.max_length < 1:
            raise StudioError("--max-length must be a positive number of tokens")
        if self.instruction is not None and not self.instruction.strip():
            self.instruction = None
        if self.instruction and self.no_instruction:
            raise StudioError("give an instruction or ask for none, not both")
        if self.pooling not in (None, "mean", "last"):
            raise StudioError("pooling must be mean or last")
        return self

    def job_argv(self) -> list[str]:
        """`python -m studio eval …` for a background job."""
        return ["eval", *to_argv(self)]

    def to_dict(self) -> dict:
        return asdict(self)
