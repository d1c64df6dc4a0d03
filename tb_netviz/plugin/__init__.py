"""The NetViz TensorBoard plugin: JSON routes over netviz summaries and the dashboard's files.

TensorBoard finds it through the ``tensorboard_plugins`` entry point
``netviz = tb_netviz.plugin.loader:NetVizLoader``. Nothing here imports torch
or TensorFlow. The routes are documented in ``http_api.md`` beside this file.

Example:
    >>> from tb_netviz.plugin.loader import NetVizLoader
    >>> NetVizLoader.__name__
    'NetVizLoader'
"""
