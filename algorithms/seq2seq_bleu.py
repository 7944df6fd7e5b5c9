"""Corpus BLEU as sacrebleu computes it by default, on pre-tokenised sequences.

Why our own: sacrebleu would be one more dependency (with portalocker, regex, lxml ...) for a
few lines of counting, and seq2seq scores token-id sequences that need no tokenisation.

The statistic is Papineni et al.'s, as ``sacrebleu.corpus_bleu(hypotheses, [references],
tokenize="none")`` computes it with its defaults: one reference per hypothesis, modified
(clipped) n-gram precisions for n = 1..4 summed over the corpus, their geometric mean, times
the brevity penalty ``exp(1 - r / c)`` when the corpus's hypotheses (``c`` tokens) are shorter
than its references (``r`` tokens). Smoothing is sacrebleu's default ``exp``: an order with no
match counts ``1 / 2**k`` matches, ``k`` = 1, 2 ... for each such order in turn; no match of
any order, or an order with no n-grams at all in the hypotheses, makes the score 0. The score
is a fraction in [0, 1] (sacrebleu's 0..100 divided by 100, as Sockeye, on which SageMaker's
seq2seq is built, reports it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

MAX_ORDER = 4


def _ngrams(tokens: Sequence[Hashable], n: int) -> Counter[tuple[Hashable, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(
    hypotheses: Sequence[Sequence[Hashable]], references: Sequence[Sequence[Hashable]]
) -> float:
    """Corpus BLEU in [0, 1] of token sequences against one reference each."""
    if len(hypotheses) != len(references):
        msg = f"{len(hypotheses)} hypotheses but {len(references)} references"
        raise ValueError(msg)
    matches, totals = [0] * MAX_ORDER, [0] * MAX_ORDER
    hypothesis_length = reference_length = 0
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hypothesis_length += len(hypothesis)
        reference_length += len(reference)
        for n in range(1, MAX_ORDER + 1):
            found, wanted = _ngrams(hypothesis, n), _ngrams(reference, n)
            matches[n - 1] += sum(min(count, wanted[gram]) for gram, count in found.items())
            totals[n - 1] += max(0, len(hypothesis) - n + 1)
    if hypothesis_length == 0 or min(totals) == 0 or not any(matches):
        return 0.0
    log_precisions = []
    smoothing = 1.0
    for matched, total in zip(matches, totals, strict=True):
        if matched == 0:
            smoothing *= 2.0
            log_precisions.append(math.log(1.0 / (smoothing * total)))
        else:
            log_precisions.append(math.log(matched / total))
    brevity = (
        1.0
        if hypothesis_length >= reference_length
        else math.exp(1.0 - reference_length / hypothesis_length)
    )
    return brevity * math.exp(sum(log_precisions) / MAX_ORDER)
