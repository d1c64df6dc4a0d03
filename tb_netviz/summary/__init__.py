"""The netviz summary format, defined once: the contract between callbacks and plugin.

Plugin name, tags, versioned metadata content, statistic columns, alert rules,
numpy -> proto encoders and the non-blocking event writer. Imports numpy and
TensorBoard's protos only.

Example:
    >>> import tempfile, numpy as np
    >>> from tb_netviz import summary
    >>> with summary.NetVizWriter(tempfile.mkdtemp()) as writer:
    ...     writer.gradient_flow(0, ["fc"], np.zeros((1, len(summary.GRADIENT_STATS))))
    True
"""

from tb_netviz.summary.alerts import (
    ALERT_KINDS,
    AlertDetector,
    AlertThresholds,
    NetVizAlertWarning,
)
from tb_netviz.summary.columns import (
    ACTIVATION_STATS,
    GRADIENT_STATS,
    LAYER_NAMING_RULE,
    describe_missing_gradient,
)
from tb_netviz.summary.event_writer import EventWriter, LogDirError, NetVizWriteWarning
from tb_netviz.summary.metadata import (
    ACTIVATIONS_TAG,
    ALERTS_OMITTED_TAG,
    ALERTS_TAG,
    ATTENTION_TAG_PREFIX,
    CLIPPED_GRAD_NORM_TAG,
    DROPPED_SUMMARIES_TAG,
    EMBEDDING_TAG_PREFIX,
    FEATURE_MAPS_TAG_PREFIX,
    GLOBAL_GRAD_NORM_TAG,
    GRADIENT_FLOW_TAG,
    KERNEL_RGB_TAG_PREFIX,
    PLUGIN_NAME,
    VERSION,
    WEIGHT_IMAGES_TAG_PREFIX,
    WEIGHTS_TAG_PREFIX,
    MetadataVersionError,
    attention_tag,
    create_summary_metadata,
    embedding_tag,
    feature_maps_tag,
    parse_plugin_metadata,
    weights_tag,
)
from tb_netviz.summary.options import CaptureOptions
from tb_netviz.summary.writer import NetVizWriter

__all__ = [
    "ACTIVATIONS_TAG",
    "ACTIVATION_STATS",
    "ALERTS_OMITTED_TAG",
    "ALERTS_TAG",
    "ALERT_KINDS",
    "ATTENTION_TAG_PREFIX",
    "AlertDetector",
    "AlertThresholds",
    "CaptureOptions",
    "CLIPPED_GRAD_NORM_TAG",
    "DROPPED_SUMMARIES_TAG",
    "EventWriter",
    "FEATURE_MAPS_TAG_PREFIX",
    "GLOBAL_GRAD_NORM_TAG",
    "GRADIENT_FLOW_TAG",
    "GRADIENT_STATS",
    "LAYER_NAMING_RULE",
    "LogDirError",
    "MetadataVersionError",
    "NetVizAlertWarning",
    "NetVizWriteWarning",
    "NetVizWriter",
    "PLUGIN_NAME",
    "VERSION",
    "attention_tag",
    "create_summary_metadata",
    "describe_missing_gradient",
    "feature_maps_tag",
    "parse_plugin_metadata",
    "EMBEDDING_TAG_PREFIX",
    "KERNEL_RGB_TAG_PREFIX",
    "WEIGHT_IMAGES_TAG_PREFIX",
    "WEIGHTS_TAG_PREFIX",
    "embedding_tag",
    "weights_tag",
]
