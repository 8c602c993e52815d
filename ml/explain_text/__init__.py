"""Text explanations for the humor classifier: word attributions and ERASER-style metrics.

Importing the package loads no torch: the words and the metrics serve the web process;
:mod:`ml.explain_text.attributions` (Integrated Gradients, attention rollout) is imported
where a model runs.
"""

from .eraser import (
    AOPC,
    PRF,
    Agreement,
    Faithfulness,
    Plausibility,
    aopc,
    auprc,
    faithfulness,
    iou_f1,
    iou_prf,
    memoised,
    pairwise_f1,
    plausibility,
    rationale_agreement,
    reliability_matrix,
    spans,
    token_f1,
    token_prf,
)
from .words import Word, only_words, split_words, token_words, top_k_tokens, without_words

__all__ = [
    "AOPC",
    "PRF",
    "Agreement",
    "Faithfulness",
    "Plausibility",
    "Word",
    "aopc",
    "auprc",
    "faithfulness",
    "iou_f1",
    "iou_prf",
    "memoised",
    "only_words",
    "pairwise_f1",
    "plausibility",
    "rationale_agreement",
    "reliability_matrix",
    "spans",
    "split_words",
    "token_f1",
    "token_prf",
    "token_words",
    "top_k_tokens",
    "without_words",
]
