"""tb-netviz for Keras 3 on the TensorFlow backend.

Importing this package imports Keras and TensorFlow (``import tb_netviz`` does not).

Example:
    >>> from tb_netviz.keras import NetVizCallback
    >>> NetVizCallback(log_dir="runs/exp1", log_every_n_steps=5).options.log_every_n_steps
    5
"""

from tb_netviz.keras.callback import NetVizCallback

__all__ = ["NetVizCallback"]
