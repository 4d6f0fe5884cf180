"""A local Hugging Face text-classification folder, as a batch of label probabilities.

Shared by the sentiment and toxicity scorers: loading without a hub, a length limit the
model can take, batching, and finding a label by name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

__all__ = ["LocalClassifier"]


class LocalClassifier:
    """``probabilities(texts)``: one row of label probabilities per text.

    Args:
        path: a local model folder (config, weights, tokenizer). Never downloads.
        batch_size: texts per forward pass.
        max_length: tokens per text (longer texts are cut).
    """

    def __init__(self, path: str | os.PathLike[str], batch_size: int = 32, max_length: int = 256):
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"no local model folder at {folder}")
        self.folder = folder
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True
        ).eval()
        self.labels = {int(i): str(name) for i, name in self.model.config.id2label.items()}
        if len(self.labels) < 2:
            raise ValueError(f"{folder}: a classifier needs >= 2 labels, got {self.labels}")
        self.batch_size = int(batch_size)
        # Longer inputs than the model has positions for would crash it, not just cut.
        limits = [int(max_length), getattr(self.model.config, "max_position_embeddings", None)]
        model_max = getattr(self.tokenizer, "model_max_length", None)
        limits.append(model_max if model_max and model_max < 10**6 else None)
        self.max_length = min(limit for limit in limits if limit)

    def label_index(
        self, wanted: str | None, hints: Sequence[str], fallback: int, exclude: str = "non"
    ) -> int:
        """The index of label ``wanted``; else of the first label containing one of
        ``hints`` (and not starting with ``exclude``, so "non-toxic" is not toxic); else
        ``fallback``."""
        if wanted is not None:
            for index, name in self.labels.items():
                if name == wanted:
                    return index
            raise ValueError(f"label {wanted!r} not in the model's labels {self.labels}")
        for index, name in self.labels.items():
            lowered = name.lower()
            if any(hint in lowered for hint in hints) and not lowered.startswith(exclude):
                return index
        return fallback

    def probabilities(self, texts: Sequence[str]) -> list[list[float]]:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            # An empty string tokenizes to nothing some models cannot take.
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            encoded = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.no_grad():
                probs = self.model(**encoded).logits.float().softmax(-1)
            rows.extend(row.tolist() for row in probs)
        return rows
