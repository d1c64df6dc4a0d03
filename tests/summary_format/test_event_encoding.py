"""The hand-built event records are byte for byte what protobuf and the TFRecord format give."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_netviz.summary import encoders
from tb_netviz.summary.event_encoding import event_chunks, record_chunks

values = st.lists(
    st.builds(
        lambda tag, number: summary_pb2.Summary.Value(tag=tag, simple_value=number),
        st.text(max_size=300),
        st.floats(width=32),
    ),
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(
    wall_time=st.floats(allow_nan=False),
    step=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    summary_values=values,
)
def test_event_chunks_equal_protobuf_serialization(wall_time, step, summary_values):
    serialized = [value.SerializeToString() for value in summary_values]
    expected = event_pb2.Event(
        wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=summary_values)
    ).SerializeToString()
    assert b"".join(event_chunks(wall_time, step, serialized)) == expected


class _Collect:
    def __init__(self):
        self.data = b""

    def write(self, data):
        self.data += data


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=2000), max_size=5))
def test_record_chunks_equal_tensorboards_own_record_framing(payload):
    sink = _Collect()
    RecordWriter(sink).write(b"".join(payload))
    assert b"".join(record_chunks(payload)) == sink.data


def test_a_megabyte_tensor_event_round_trips_through_protobuf():
    weights = np.random.default_rng(0).random((4, 256, 256), dtype=np.float32)
    value = encoders.attention_value("encoder.self_attn", weights)
    chunks = record_chunks(event_chunks(1.5, 7, [value.SerializeToString()]))
    record = b"".join(chunks)
    event = event_pb2.Event.FromString(record[12:-4])
    assert event.step == 7 and event.summary.value[0] == value
