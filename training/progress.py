"""Progress reporting and cancellation shared by the recipes and the run lifecycle.

A recipe reports through `progress(phase, done, total, metrics)` and polls `should_stop()`; when it returns
True the recipe raises TrainingCancelled. "epoch" is the phase of a finished epoch (done/total epochs).
"""


class TrainingCancelled(Exception):
    """An operator cancelled the run; nothing was registered."""


def no_progress(*_args, **_kwargs):
    return None


def never_stop():
    return False


def stop_if_asked(should_stop):
    if should_stop():
        raise TrainingCancelled("Cancelled by an operator.")


def _stop_training_if_asked(model, should_stop):
    if should_stop():
        model.stop_training = True
        raise TrainingCancelled("Cancelled by an operator.")


def keras_stop(should_stop):
    """A Keras callback that only stops training when cancelled (checked after every epoch), reporting nothing."""
    import keras

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            _stop_training_if_asked(self.model, should_stop)

    return Stop()


def keras_progress(progress, should_stop, phase, total_epochs, steps=None):
    """A Keras callback that reports batches/epochs and stops training when cancelled."""
    import keras

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if steps:
                progress(f"{phase} epoch {self.epoch}/{total_epochs}", batch + 1, steps, dict(logs or {}))

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1

        def on_epoch_end(self, epoch, logs=None):
            progress("epoch", epoch + 1, total_epochs, {k: float(v) for k, v in (logs or {}).items()})
            _stop_training_if_asked(self.model, should_stop)

    return Progress()
