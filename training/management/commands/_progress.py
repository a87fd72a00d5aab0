"""A tqdm renderer for training progress callbacks (one bar per phase/epoch, loss and accuracy as postfix)."""
from tqdm import tqdm


class TqdmProgress:
    def __init__(self, stream=None):
        self.stream = stream
        self.bar = None
        self.phase = None

    def _postfix(self, metrics):
        keys = ("loss", "accuracy", "val_loss", "val_accuracy")
        return {k.replace("accuracy", "acc"): f"{metrics[k]:.4f}" for k in keys if k in metrics}

    def __call__(self, phase, done, total, metrics):
        if phase == "epoch":
            # Keras epoch end: a one-line summary bar per epoch.
            self.close()
            with tqdm(total=total, initial=done, desc=f"epoch {done}/{total}", file=self.stream, leave=True, dynamic_ncols=True) as bar:
                bar.set_postfix(self._postfix(metrics or {}))
            return
        if phase != self.phase or self.bar is None:
            self.close()
            self.phase = phase
            self.bar = tqdm(total=total, desc=phase, file=self.stream, leave=True, dynamic_ncols=True)
        self.bar.n = done
        if metrics:
            self.bar.set_postfix(self._postfix(metrics), refresh=False)
        self.bar.refresh()
        if done >= total:
            self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        self.bar, self.phase = None, None
