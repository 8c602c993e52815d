"""Word attributions for the humor classifier: Integrated Gradients and attention rollout.

Both methods score the sub-word tokens the encoder sees and then sum those scores into the
words of :mod:`ml.explain_text.words`, so a page can highlight ``text[start:end]`` and a
human rationale (word indices) can be compared with them directly. Summing keeps IG's
completeness: the word scores still add up to ``f(x) − f(baseline)``.

The model is any module called as ``model(input_ids, attention_mask)`` that returns logits of
shape ``(batch, classes)`` or one regression output of shape ``(batch,)`` — the humor
:class:`~ml.humor.model.EncoderHead` as :class:`~ml.humor.predict.Predictor` loads it
(``predictor.model``, ``predictor.tokenizer``, ``predictor.max_length``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .words import Word, split_words, token_words

METHODS = ("integrated_gradients", "attention_rollout")
BASELINES = ("pad", "mask")
OUTPUTS = ("probability", "logit")
ROLLOUT_ROWS = ("cls", "mean")


@dataclass(frozen=True)
class TokenAttribution:
    """One text's attribution: a score per word, and the token-level detail it came from.

    ``output`` is f(x) for the explained class (the probability or logit that IG attributes;
    for rollout the model's probability, for reference). ``baseline_output`` and ``delta``
    (captum's convergence delta, ``Σ attributions − (f(x) − f(baseline))``) are IG's only.
    Words past ``max_length`` tokens get score 0 and ``truncated`` is set.
    """

    method: str
    words: list[Word]
    scores: list[float]
    tokens: list[str]
    token_scores: list[float]
    token_words: list[int | None]
    output: float
    baseline_output: float | None = None
    delta: float | None = None
    truncated: bool = False

    def to_dict(self) -> dict:
        """JSON-ready, for storing beside an Item and rendering highlights."""
        return {
            "method": self.method,
            "words": [w.to_dict() for w in self.words],
            "scores": list(self.scores),
            "output": self.output,
            "baseline_output": self.baseline_output,
            "delta": self.delta,
            "truncated": self.truncated,
        }


def merge_subtokens(
    token_scores: Sequence[float], token_word: Sequence[int | None], n_words: int
) -> list[float]:
    """Sum token scores into word scores; tokens mapped to ``None`` (special, padding) drop out."""
    out = [0.0] * n_words
    for score, word in zip(token_scores, token_word, strict=True):
        if word is not None:
            out[word] += float(score)
    return out


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _encoder(model: nn.Module) -> Any:
    """The Hugging Face encoder inside the head (typed loosely: its API is transformers')."""
    return model.encoder


def _encode(tokenizer, text: str, max_length: int, device: torch.device):
    """Token ids, mask, special-token flags, offsets and tokens of one text (no padding)."""
    batch = tokenizer(
        text,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    ids = batch["input_ids"].to(device)
    return (
        ids,
        batch["attention_mask"].to(device),
        batch["special_tokens_mask"][0].bool(),
        [tuple(span) for span in batch["offset_mapping"][0].tolist()],
        tokenizer.convert_ids_to_tokens(ids[0].tolist()),
    )


def _target_output(raw: torch.Tensor, target: int, output: str) -> torch.Tensor:
    """The scalar per example that is explained: p(target), its logit, or the regression output."""
    if raw.dim() == 1:
        return raw
    if output == "probability":
        return raw.softmax(-1)[:, target]
    return raw[:, target]


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}.")


def baseline_ids(
    input_ids: torch.Tensor, special: torch.Tensor, tokenizer, baseline: str = "pad"
) -> torch.Tensor:
    """The IG reference input: every ordinary token replaced by [PAD] (or [MASK]).

    Special tokens ([CLS], [SEP]) stay, so the baseline differs from the input only in the
    words' identities and their attributions are the whole output difference.
    """
    _check("baseline", baseline, BASELINES)
    token = tokenizer.pad_token_id if baseline == "pad" else tokenizer.mask_token_id
    if token is None:
        raise ValueError(f"The tokenizer has no {baseline} token for the IG baseline.")
    out = input_ids.clone()
    out[0, ~special.to(out.device)] = token
    return out


def integrated_gradients(
    model: nn.Module,
    tokenizer,
    text: str,
    *,
    target: int = 1,
    n_steps: int = 50,
    baseline: str = "pad",
    output: str = "probability",
    max_length: int = 128,
    internal_batch_size: int | None = None,
) -> TokenAttribution:
    """Integrated Gradients of f = p(target | text) (or its logit) over the token embeddings.

    captum's ``LayerIntegratedGradients`` on the encoder's input-embedding layer, from the
    :func:`baseline_ids` reference, with ``n_steps`` Gauss–Legendre steps; the model is put
    in eval mode (dropout off) and run in float32 so the convergence delta means something.
    """
    from captum.attr import LayerIntegratedGradients

    _check("output", output, OUTPUTS)
    device = _model_device(model)
    model.eval()
    ids, mask, special, offsets, tokens = _encode(tokenizer, text, max_length, device)
    reference = baseline_ids(ids, special, tokenizer, baseline)

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return _target_output(model(input_ids, attention_mask).float(), target, output)

    layer = _encoder(model).get_input_embeddings()
    ig = LayerIntegratedGradients(forward, layer)
    attributions, delta = ig.attribute(
        inputs=ids,
        baselines=reference,
        additional_forward_args=(mask,),
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    token_scores = attributions.sum(-1)[0].detach().cpu().tolist()
    with torch.no_grad():
        f_x, f_ref = forward(torch.cat([ids, reference]), mask.repeat(2, 1)).tolist()
    return _result(
        "integrated_gradients",
        text,
        tokens,
        offsets,
        token_scores,
        max_length,
        output=f_x,
        baseline_output=f_ref,
        delta=float(delta.item()),
    )


def _result(method, text, tokens, offsets, token_scores, max_length, **extra) -> TokenAttribution:
    words = split_words(text)
    mapping = token_words(offsets, words)
    last = max((w for w in mapping if w is not None), default=-1)
    return TokenAttribution(
        method=method,
        words=words,
        scores=merge_subtokens(token_scores, mapping, len(words)),
        tokens=tokens,
        token_scores=[float(s) for s in token_scores],
        token_words=mapping,
        # The tokenizer cut the text short: it filled max_length and missed the last words.
        truncated=len(tokens) >= max_length and last < len(words) - 1,
        **extra,
    )


def rollout(attentions: Sequence[np.ndarray]) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) of one input's per-layer attentions.

    Each layer's ``(heads, n, n)`` attention is averaged over heads, mixed half-and-half
    with the identity for the residual connection, and row-normalised; the layers are then
    multiplied from the first upwards: ``R = Â_L · … · Â_1``. Row ``i`` of the result is how
    much token ``i`` at the top draws on each input token; every row sums to 1.
    """
    result: np.ndarray | None = None
    for layer in attentions:
        a = np.asarray(layer, dtype=np.float64).mean(axis=0)
        a = 0.5 * a + 0.5 * np.eye(a.shape[-1])
        a = a / a.sum(axis=-1, keepdims=True)
        result = a if result is None else a @ result
    if result is None:
        raise ValueError("rollout needs at least one layer of attention.")
    return result


@torch.no_grad()
def attention_rollout(
    model: nn.Module, tokenizer, text: str, *, row: str = "cls", max_length: int = 128
) -> TokenAttribution:
    """Word scores from the rollout's [CLS] row (``row="cls"``) or its mean over all tokens.

    The humor head mean-pools the top layer, so ``row="mean"`` follows what reaches the
    classifier more closely; ``"cls"`` is the paper's choice and the default. SDPA kernels
    return no attention weights, so the encoder runs with eager attention for this call
    and is switched back afterwards.
    """
    _check("row", row, ROLLOUT_ROWS)
    device = _model_device(model)
    model.eval()
    ids, mask, _special, offsets, tokens = _encode(tokenizer, text, max_length, device)
    encoder = _encoder(model)
    before = encoder.config._attn_implementation
    encoder.set_attn_implementation("eager")
    try:
        out = encoder(input_ids=ids, attention_mask=mask, output_attentions=True)
        probs = model(ids, mask).float()
    finally:
        encoder.set_attn_implementation(before)
    matrix = rollout([layer[0].float().cpu().numpy() for layer in out.attentions])
    token_scores = matrix[0] if row == "cls" else matrix.mean(axis=0)
    return _result(
        "attention_rollout",
        text,
        tokens,
        offsets,
        token_scores.tolist(),
        max_length,
        output=float(_target_output(probs, 1, "probability")[0]),
    )


def proba_fn(
    model: nn.Module, tokenizer, *, max_length: int = 128, batch_size: int = 64
) -> Callable[[Sequence[str]], np.ndarray]:
    """A ``predict_proba(texts) -> (n, classes)`` callable for the ERASER faithfulness metrics.

    Softmax probabilities of a classifier, in float32, batched; a regressor is refused.
    """
    device = _model_device(model)

    @torch.no_grad()
    def predict_proba(texts: Sequence[str]) -> np.ndarray:
        model.eval()
        rows = []
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            raw = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            if raw.dim() == 1:
                raise ValueError("predict_proba needs a classifier; this model regresses.")
            rows.append(raw.float().softmax(-1).cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, 2))

    return predict_proba
