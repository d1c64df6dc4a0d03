"""The entry point TensorBoard loads: ``netviz = tb_netviz.plugin.loader:NetVizLoader``.

An ImportError here would stop TensorBoard from starting, so this module
imports only TensorBoard itself and the plugin, which import neither torch nor
TensorFlow.

Example:
    >>> from tensorboard.plugins import base_plugin
    >>> plugin = NetVizLoader().load(base_plugin.TBContext())
    >>> plugin.plugin_name, plugin.frontend_metadata().tab_name
    ('netviz', 'NetViz')
"""

from __future__ import annotations

from tensorboard.plugins import base_plugin

from tb_netviz.plugin.netviz_plugin import NetVizPlugin


class NetVizLoader(base_plugin.TBLoader):
    """Builds the NetViz plugin for a TensorBoard instance; adds no flags of its own."""

    def load(self, context: base_plugin.TBContext) -> NetVizPlugin:
        """The plugin, reading through ``context.data_provider``."""
        return NetVizPlugin(context)
