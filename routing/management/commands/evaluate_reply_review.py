"""``manage.py evaluate_reply_review [FILE ...] [--fit]``: the reply review measured on message–reply pairs."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from routing.intelligence import review


class Command(BaseCommand):
    help = (
        "Measure the reply review on message-reply pairs (JSON lines with message and reply): the true reply against the reply "
        "to the most similar other message (ROC AUC), and a whole reply against its first sentence. With --fit, print the "
        "relevance weights fitted on the shipped pairs (routing/fixtures/reply_pairs.jsonl) to paste into review.py."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="pair files (default: the shipped pairs)")
        parser.add_argument("--fit", action="store_true", help="fit the relevance weights on the shipped pairs and print them")

    def handle(self, *args, files: list[str], fit: bool, **options):
        if fit:
            started = time.monotonic()
            weights, bias = review.fit(review.load_pairs())
            self.stdout.write(f"RELEVANCE_WEIGHTS = {weights!r}  # {', '.join(review.RELEVANCE_FEATURES)}")
            self.stdout.write(f"RELEVANCE_BIAS = {bias!r}")
            self.stdout.write(f"fitted in {time.monotonic() - started:.1f} s")
            if (weights, bias) != (review.RELEVANCE_WEIGHTS, review.RELEVANCE_BIAS):
                self.stdout.write("review.py holds other weights: paste these to use them")
        for name in files or [None]:
            try:
                pairs = review.load_pairs(name)
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"{name}: {exc}") from exc
            if len(pairs) < 2:
                raise CommandError(f"{name}: at least two pairs are needed")
            figures = review.evaluate(pairs)
            self.stdout.write(f"{name or review.PAIRS_FILE}: {figures['pairs']} pairs")
            self.stdout.write(
                f"  relevance: ROC AUC {figures['relevance_auc']:.3f} (true reply vs the reply to the most similar other message), "
                f"true reply ahead in {figures['relevance_pair_wins']:.1%} of pairs; mean {figures['relevance_true_mean']:.2f} vs {figures['relevance_other_mean']:.2f}"
            )
            self.stdout.write(
                f"  completeness: whole reply above its first sentence in {figures['completeness_whole_wins']:.1%} of pairs; "
                f"mean {figures['completeness_whole_mean']:.2f} vs {figures['completeness_first_mean']:.2f}"
            )
