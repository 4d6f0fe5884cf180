"""Stopping a training run at a safe point: the first Ctrl-C asks the loop to finish its
iteration and save; :class:`TrainingInterrupted` then says what was saved."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

__all__ = ["GracefulStop", "TrainingInterrupted"]


class GracefulStop:
    """The first Ctrl-C asks training to stop after the current iteration, at a safe point
    (checkpoint and model written); a second one stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\nCtrl-C: stopping after this iteration and saving a checkpoint "
            "(Ctrl-C again to stop now)",
            file=sys.stderr,
            flush=True,
        )

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C at a safe point; ``checkpoint`` is what was saved."""

    def __init__(self, iteration: int, checkpoint: Path | None, out: Path):
        self.iteration, self.checkpoint, self.out = iteration, checkpoint, out
        super().__init__(
            f"stopped at iteration {iteration}; saved checkpoint {checkpoint} and the model "
            f"in {out / 'policy'}. Continue with the same command and --resume"
        )
