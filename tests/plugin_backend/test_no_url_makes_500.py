"""Property: nothing a URL can say makes a route answer 500, and every answer is well-formed."""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROUTES = ["runs", "gradient_flow", "activations", "attention", "feature_maps", "alerts", "static/index.js"]
PARAMETERS = ["run", "layer", "step", "stats", "min_step", "max_step", "max_steps", "other"]
MEANINGFUL = [
    "exp1",
    "nested/exp2",
    "future",
    "scalars_only",
    "enc.attn",
    "conv1",
    "cross",
    "0",
    "100",
    "7",
    "240",
    "-1",
    "500",
    "10000",
    "10001",
    "grad_l2",
    "grad_l2,has_grad",
    "act_mean",
    "",
    ",",
    "1e3",
    "+5",
    "0x10",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "NaN",
    "../exp1",
    "%00",
]
ALLOWED_STATUSES = {200, 400, 404, 405}

values = st.one_of(
    st.sampled_from(MEANINGFUL),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
)
queries = st.lists(st.tuples(st.sampled_from(PARAMETERS), values), max_size=6).map(urllib.parse.urlencode)
raw_queries = st.binary(max_size=40).map(lambda b: urllib.parse.quote_from_bytes(b, safe="=&"))
paths = st.one_of(
    st.sampled_from(ROUTES),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30).map(
        lambda text: "static/" + urllib.parse.quote(text, safe="/")
    ),
)
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_answer(response) -> None:
    assert response.status_code in ALLOWED_STATUSES, response.get_data(as_text=True)
    if response.mimetype == "application/json":
        body = json.loads(response.get_data(as_text=True), parse_constant=lambda name: 1 / 0)
        if response.status_code != 200:
            assert isinstance(body["error"], str) and body["error"]
    elif response.status_code == 404:  # TensorBoard's own answer to a path no plugin route takes
        assert response.get_data() == b"Not found"
    else:
        assert response.status_code == 200
        assert response.mimetype in {"image/png", "application/javascript", "text/css"}


@FUZZ
@given(path=paths, query=st.one_of(queries, raw_queries))
def test_any_get_answers_200_400_404_with_valid_json(netviz, path, query):
    check_answer(netviz.client.get(f"/data/plugin/netviz/{path}?{query}"))


@FUZZ
@given(
    path=st.sampled_from(ROUTES),
    query=queries,
    method=st.sampled_from(["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
)
def test_any_other_method_answers_405(netviz, path, query, method):
    response = netviz.client.open(f"/data/plugin/netviz/{path}?{query}", method=method)
    assert response.status_code == 405
