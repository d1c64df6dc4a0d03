"""The JSON text of float arrays: every value decodes to itself rounded to 7 significant digits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tb_netviz.plugin.json_values import encode_array


def strict_json(text: str):
    """Decode JSON that must not use the NaN/Infinity extensions."""

    def refuse(name):
        raise AssertionError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def expected_value(value: float, missing: bool):
    """What a value must decode to: itself rounded as ``f"{x:.6e}"`` rounds, or its special."""
    if missing:
        return None
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(f"{value:.6e}")


def expected_lists(values: np.ndarray, missing: np.ndarray):
    with np.errstate(invalid="ignore"):  # signalling NaNs among random bit patterns
        as_float64 = values.astype(np.float64)
    each = np.frompyfunc(expected_value, 2, 1)(as_float64, missing)
    return np.asarray(each, dtype=object).tolist()


def assert_decodes_exactly(values: np.ndarray, missing: np.ndarray | None = None) -> None:
    missing = np.zeros(values.shape, bool) if missing is None else missing
    decoded = strict_json(encode_array(values, missing))
    assert decoded == expected_lists(values, missing)


def all_float32_kinds(count: int, seed: int) -> np.ndarray:
    """Random bit patterns: normal and subnormal numbers of every exponent, NaNs, infinities."""
    bits = np.random.default_rng(seed).integers(0, 2**32, size=count, dtype=np.uint64)
    return bits.astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("shape", [(120_000,), (400, 300), (40, 50, 60)])
def test_random_float32_bit_patterns_decode_to_their_rounded_values(shape):
    values = all_float32_kinds(math.prod(shape), seed=len(shape)).reshape(shape)
    missing = np.random.default_rng(7).random(shape) < 0.05
    assert_decodes_exactly(values, missing)


def test_edge_values_decode_to_their_rounded_values():
    f32 = np.finfo(np.float32)
    powers = np.float32(10.0) ** np.arange(-45, 39, dtype=np.float32)
    near_powers = np.concatenate(
        [np.nextafter(powers, np.float32(0)), powers, np.nextafter(powers, np.float32(np.inf))]
    )
    tiny, small, big = f32.smallest_subnormal, f32.smallest_normal, f32.max
    edges = np.float32([0.0, -0.0, tiny, -tiny, small, -small * 0.5, big, -big])
    ties = np.float32([12345665.0, 12345675.0, 9999999.5, 0.5, 1.0, 0.1, 1 / 3])
    values = np.concatenate([near_powers, edges, ties, -ties])
    assert_decodes_exactly(values[np.isfinite(values)])


def test_float64_values_beyond_float32_get_three_exponent_digits():
    values = np.array([5e-324, 1e-310, 2.2250738585072014e-308, 1.7976931348623157e308, -1e100])
    assert encode_array(values) == "[4.940656e-324,1e-310,2.225074e-308,1.797693e308,-1e100]"
    assert_decodes_exactly(values)


def test_ties_round_half_to_even_and_carry_into_the_exponent():
    values = np.array([12345665.0, 12345675.0, 9999999.5, 99999995.0])
    assert encode_array(values) == "[1.234566e7,1.234568e7,1e7,1e8]"


def test_numbers_are_written_compactly():
    values = np.float32([0.1, 1 / 3, 123456.789, 2.5e-20, 3.4e38, 1.0, -2.0, 0.0, -0.0])
    assert encode_array(values) == "[1e-1,3.333333e-1,1.234568e5,2.5e-20,3.4e38,1,-2,0,-0]"


def test_missing_wins_over_non_finite_values_and_all_stay_distinct_from_zero():
    values = np.float32([np.nan, np.inf, -np.inf, np.nan, 0.0])
    missing = np.array([0, 0, 0, 1, 0], bool)
    assert encode_array(values, missing) == '["NaN","Infinity","-Infinity",null,0]'


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 2, 3), (2, 0, 3), (2, 3, 0), (1, 1, 1), ()])
def test_nesting_follows_the_shape_including_empty_axes_and_scalars(shape):
    values = np.full(shape, 2.5, np.float32)
    assert strict_json(encode_array(values)) == values.tolist()


@st.composite
def arrays_and_masks(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    width = 32 if dtype is np.float32 else 64
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    values = draw(hnp.arrays(dtype, shape, elements=st.floats(width=width)))
    return values, draw(hnp.arrays(bool, shape))


@settings(max_examples=300, deadline=None)
@given(arrays_and_masks())
def test_any_array_decodes_to_its_rounded_values_as_strict_json(array_and_mask):
    values, missing = array_and_mask
    assert_decodes_exactly(values, missing)
