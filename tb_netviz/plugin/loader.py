"""The entry point TensorBoard loads: ``netviz = tb_netviz.plugin.loader:NetVizLoader``.

An ImportError while TensorBoard loads its plugins stops it from starting, so
this module imports only TensorBoard's plugin base, and the plugin itself
(which imports neither torch nor TensorFlow) is imported when TensorBoard asks
for it: if that fails, TensorBoard logs why and runs without the NetViz tab.

Example:
    >>> from tensorboard.plugins import base_plugin
    >>> plugin = NetVizLoader().load(base_plugin.TBContext())
    >>> plugin.plugin_name, plugin.frontend_metadata().tab_name
    ('netviz', 'NetViz')
"""

from __future__ import annotations

import logging

from tensorboard.plugins import base_plugin

logger = logging.getLogger(__name__)


class NetVizLoader(base_plugin.TBLoader):
    """Builds the NetViz plugin for a TensorBoard instance; adds no flags of its own."""

    def load(self, context: base_plugin.TBContext) -> base_plugin.TBPlugin | None:
        """The plugin, reading through ``context.data_provider``; None if it cannot be imported."""
        try:
            from tb_netviz.plugin.netviz_plugin import NetVizPlugin
        except ImportError as error:
            logger.error(
                "tb-netviz: the NetViz tab is disabled because its plugin cannot be imported: %s", error
            )
            return None
        return NetVizPlugin(context)
