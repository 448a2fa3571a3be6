import pytest
import torch

from studio.embedding import load_model
from studio.embedding.gradcache import contrastive_backward
from studio.embedding.loss import InfoNCELoss
from tests.tiny_models import build_tiny_decoder


def test_infonce_equals_multiple_negatives_ranking_loss():
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(0)
    q, p, n = (torch.randn(6, 16) for _ in range(3))
    ours = InfoNCELoss(temperature=0.02)(q, p, n)

    class Precomputed(torch.nn.Module):  # hands MNRL our embeddings instead of encoding text
        def forward(self, features):
            return {"sentence_embedding": features["embedding"]}

    mnrl = MultipleNegativesRankingLoss(model=Precomputed(), scale=1 / 0.02)
    theirs = mnrl.compute_loss_from_embeddings([q, p, n], labels=None)
    assert abs(ours.item() - theirs.item()) < 1e-5


def test_infonce_hand_computed_and_examples_without_negatives_train():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    mask = torch.tensor([True, False])
    loss = InfoNCELoss(temperature=0.5)(q, p, n, mask)
    # candidates: p1, p2, n1. row 1: scores (2, 0, 0); row 2: scores (0, 2, 2).
    e = torch.exp(torch.tensor(2.0))
    expected = (-torch.log(e / (e + 2)) - torch.log(e / (1 + 2 * e))) / 2
    assert abs(loss.item() - expected.item()) < 1e-6
    # The temperature is applied: a different τ gives a different loss.
    assert abs(InfoNCELoss(temperature=1.0)(q, p, n, mask).item() - loss.item()) > 0.1


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory):
    return build_tiny_decoder(tmp_path_factory.mktemp("decoder"))


def _gradients(model, mini_batch, temperature=0.02):
    model.zero_grad(set_to_none=True)
    queries = [f"query number {i} about cats" * (1 + i % 3) for i in range(7)]
    positives = [f"the document {i} answers it" for i in range(7)]
    negatives = [None if i % 3 == 0 else f"a wrong document {i}" for i in range(7)]
    result = contrastive_backward(model, InfoNCELoss(temperature), queries, positives, negatives,
                                  mini_batch=mini_batch)
    return result.loss, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_gradcache_gradients_equal_uncached(decoder_dir):
    model = load_model(str(decoder_dir), device="cpu")
    model.train()
    full_loss, full = _gradients(model, mini_batch=None)
    cached_loss, cached = _gradients(model, mini_batch=3)
    assert abs(full_loss - cached_loss) < 1e-5
    assert full.keys() == cached.keys() and len(full) > 0
    for name in full:
        torch.testing.assert_close(cached[name], full[name], atol=1e-4, rtol=1e-3, msg=name)
    # The cached path keeps the temperature: a different τ changes its loss as it does the plain one.
    other_loss, _ = _gradients(model, mini_batch=3, temperature=0.5)
    plain_other, _ = _gradients(model, mini_batch=None, temperature=0.5)
    assert abs(other_loss - plain_other) < 1e-5 and abs(other_loss - cached_loss) > 1e-3


def test_lora_with_gradient_checkpointing_and_cache_gives_the_uncached_gradients(decoder_dir):
    from studio.training.config import TrainConfig
    from studio.training.trainer import build_model

    config = TrainConfig(base_model=str(decoder_dir), out_dir="unused", lora=True, gradient_checkpointing=True)
    torch.manual_seed(0)
    model = build_model(config, torch.device("cpu"))
    model.train()
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # LoRA starts at B = 0, which would make every A gradient zero
            torch.nn.init.normal_(parameter, std=0.1)
    full_loss, full = _gradients(model, mini_batch=None)
    cached_loss, cached = _gradients(model, mini_batch=2)
    assert abs(full_loss - cached_loss) < 1e-5
    assert full and all("lora_" in name for name in full)
    for name in full:
        torch.testing.assert_close(cached[name], full[name], atol=1e-4, rtol=1e-3, msg=name)


def test_identical_documents_in_a_batch_are_not_negatives():
    from studio.embedding.loss import text_keys

    torch.manual_seed(0)
    q, p, n = (torch.randn(4, 8) for _ in range(3))
    loss = InfoNCELoss(temperature=0.05)
    queries = ["q0", "q1", "q2", "q2"]            # examples 2 and 3 share a query
    positives = ["a", "b", "a", "c"]              # examples 0 and 2 share a positive
    negatives = ["x", "b", None, "y"]             # example 1's negative equals its own positive
    mask = torch.tensor([t is not None for t in negatives])
    keys = [text_keys(t) for t in (queries, positives, negatives)]
    # Duplicates carry the same embedding, as they would coming out of a model.
    p[2] = p[0]
    n[1] = p[1]

    masked = loss(q, p, n, mask, *keys)
    # By hand: every candidate that answers query i is left out of row i, its own target kept.
    documents = torch.cat([p, n[mask]])
    scores = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(documents, dim=-1).T / 0.05
    leave_out = {(0, 2), (2, 0), (1, 5), (2, 3), (3, 2)}  # columns: p0 p1 p2 p3 n0 n1 n3
    for i, c in leave_out:
        scores[i, c] = float("-inf")
    expected = torch.nn.functional.cross_entropy(scores, torch.arange(4))
    assert abs(masked.item() - expected.item()) < 1e-5
    # Without keys the duplicates count as negatives and the loss is higher.
    assert loss(q, p, n, mask).item() > masked.item() + 0.1
    # Keys are stable across processes (not Python's salted hash()).
    assert text_keys(["a"]).item() == text_keys(["a"]).item() != text_keys(["b"]).item()


def _mnrl(q, p, n, scale):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    class Precomputed(torch.nn.Module):
        def forward(self, features):
            return {"sentence_embedding": features["embedding"]}

    return MultipleNegativesRankingLoss(model=Precomputed(), scale=scale).compute_loss_from_embeddings(
        [q, p, n], labels=None)


def test_with_masking_on_and_no_duplicates_the_loss_equals_multiple_negatives_ranking_loss():
    from studio.embedding.loss import text_keys

    torch.manual_seed(1)
    q, p, n = (torch.randn(6, 16) for _ in range(3))
    keys = [text_keys([f"{kind}{i}" for i in range(6)]) for kind in ("q", "p", "n")]  # six distinct texts each
    masked = InfoNCELoss(temperature=0.05, mask_duplicates=True)(q, p, n, None, *keys)
    assert abs(masked.item() - _mnrl(q, p, n, scale=20.0).item()) < 1e-5


def test_duplicate_masking_is_an_option_and_off_it_equals_multiple_negatives_ranking_loss():
    from studio.embedding.loss import text_keys

    torch.manual_seed(2)
    q, p, n = (torch.randn(4, 8) for _ in range(3))
    p[2] = p[0]  # examples 0 and 2 share a positive
    keys = [text_keys(t) for t in (["q0", "q1", "q2", "q3"], ["a", "b", "a", "c"], ["x", "y", "z", "w"])]
    on = InfoNCELoss(temperature=0.05)(q, p, n, None, *keys)
    off = InfoNCELoss(temperature=0.05, mask_duplicates=False)(q, p, n, None, *keys)
    assert InfoNCELoss().mask_duplicates is True  # on by default
    assert abs(off.item() - _mnrl(q, p, n, scale=20.0).item()) < 1e-5
    assert off.item() > on.item() + 0.1


def test_gradcache_with_dropout_gives_the_plain_gradient_under_the_same_dropout_masks(tmp_path):
    from tests.tiny_models import build_tiny_encoder

    model = load_model(str(build_tiny_encoder(tmp_path / "enc", dropout=0.2)), device="cpu")
    model.train()
    queries = [f"query number {i} about cats" for i in range(4)]
    positives = [f"the document {i} answers it" for i in range(4)]
    negatives = [f"a wrong document {i}" for i in range(4)]

    def gradients(seed, mini_batch):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        result = contrastive_backward(model, InfoNCELoss(0.05), queries, positives, negatives, mini_batch=mini_batch)
        return result.loss, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    # Chunks of 4 are the plain pass's groups (queries, positives, negatives): the same random
    # draws, so the same dropout masks; the cached pass replays them in its second forward.
    plain_loss, plain = gradients(0, None)
    cached_loss, cached = gradients(0, 4)
    assert abs(plain_loss - cached_loss) < 1e-5
    for name in plain:
        torch.testing.assert_close(cached[name], plain[name], atol=1e-5, rtol=1e-4, msg=name)
    # Dropout is really on: another seed draws other masks and another gradient.
    other_loss, _ = gradients(1, 4)
    assert abs(other_loss - cached_loss) > 1e-4
