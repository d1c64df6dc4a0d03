"""tb-netviz: see inside a training network in TensorBoard's NetViz tab.

Importing this package imports neither torch nor TensorFlow; the framework
integrations live in ``tb_netviz.torch`` and ``tb_netviz.keras``.

Example:
    >>> import tb_netviz
    >>> tb_netviz.summary.PLUGIN_NAME
    'netviz'
"""

from tb_netviz import summary

__version__ = "0.1.0"
__all__ = ["summary", "__version__"]
