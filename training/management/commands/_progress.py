"""A tqdm renderer for training progress callbacks.

Batch progress of an epoch ("seed epoch 2/8") gets one bar per epoch, closed with the epoch's loss,
accuracy and validation metrics; epochs without batch progress (the default architecture's head,
sub-second epochs on cached features) share one bar that advances per epoch with the same metrics.
"""
from tqdm import tqdm

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def _postfix(metrics):
    return {k.replace("accuracy", "acc"): f"{metrics[k]:.4f}" for k in KEYS if k in (metrics or {})}


class TqdmProgress:
    def __init__(self, stream=None):
        self.stream = stream
        self.bar = None
        self.phase = None

    def __call__(self, phase, done, total, metrics):
        if phase == "epoch":
            if self.bar is not None and self.phase and "epoch" in self.phase and self.phase != "epochs":
                self.bar.set_postfix(_postfix(metrics), refresh=True)  # close this epoch's batch bar
                self.close()
                return
            if self.phase != "epochs":
                self._open("epochs", total)
        elif phase != self.phase or self.bar is None:
            self._open(phase, total)
        self.bar.n = done
        if metrics:
            self.bar.set_postfix(_postfix(metrics), refresh=False)
        self.bar.refresh()
        if done >= total and phase != "epoch" or (phase == "epoch" and done >= total):
            self.close()

    def _open(self, phase, total):
        self.close()
        self.phase = phase
        self.bar = tqdm(total=total, desc=phase, file=self.stream, leave=True, dynamic_ncols=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        self.bar, self.phase = None, None
