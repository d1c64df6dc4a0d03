"""Property: nothing a URL can say makes a route answer 500, and every answer is well-formed."""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROUTES = [
    "runs",
    "gradient_flow",
    "activations",
    "attention",
    "feature_maps",
    "gradcam",
    "probe_inputs",
    "alerts",
    "static/index.js",
]
PARAMETERS = ["run", "layer", "layers", "step", "stats", "min_step", "max_step", "max_steps", "other"]
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
    "head,conv1",
    "embed",
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


def likely(known: list[str]):
    """A known-good value four times in five, else anything."""
    return st.integers(0, 4).flatmap(lambda roll: values if roll == 4 else st.sampled_from(known))


# Well-formed requests on real runs and layers, so that the 200 paths are explored too.
plausible_queries = st.fixed_dictionaries(
    {"run": likely(["exp1", "nested/exp2", "future", "scalars_only", "nope"])},
    optional={
        "layer": likely(["enc.attn", "conv1", "cross", "head"]),
        "step": likely(["0", "7", "100", "240", "5"]),
        "stats": likely(["grad_l2", "has_grad,param_l2", "act_mean,act_std"]),
        "layers": likely(["head", "enc.attn,conv1", "head,head", "embed,out", "out"]),
        "min_step": likely(["0", "5", "-5"]),
        "max_step": likely(["100", "240", "30"]),
        "max_steps": likely(["1", "3", "500"]),
    },
).map(urllib.parse.urlencode)
arbitrary_queries = st.lists(st.tuples(st.sampled_from(PARAMETERS), values), max_size=6).map(
    urllib.parse.urlencode
)
raw_queries = st.binary(max_size=40).map(lambda b: urllib.parse.quote_from_bytes(b, safe="=&"))
any_static_path = st.text(st.characters(exclude_categories=("Cs",)), max_size=30).map(
    lambda text: "static/" + urllib.parse.quote(text, safe="/")
)
paths = st.integers(0, 4).flatmap(lambda roll: any_static_path if roll == 4 else st.sampled_from(ROUTES))
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
@given(path=paths, query=st.one_of(plausible_queries, plausible_queries, arbitrary_queries, raw_queries))
def test_any_get_answers_200_400_404_with_valid_json(netviz, path, query):
    check_answer(netviz.client.get(f"/data/plugin/netviz/{path}?{query}"))


@FUZZ
@given(
    path=st.sampled_from(ROUTES),
    query=st.one_of(plausible_queries, arbitrary_queries),
    method=st.sampled_from(["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
)
def test_any_other_method_answers_405(netviz, path, query, method):
    response = netviz.client.open(f"/data/plugin/netviz/{path}?{query}", method=method)
    assert response.status_code == 405


GRADIENT_COLUMNS = ["grad_l2", "grad_mean_abs", "grad_max_abs", "param_l2", "grad_to_param", "grad_nonfinite"]


RUN_LAYERS = {"exp1": ["conv1", "enc.attn", "head"], "nested/exp2": ["embed", "out"]}


@FUZZ
@given(
    run=st.sampled_from(["exp1", "nested/exp2"]),
    stats=st.lists(st.sampled_from(GRADIENT_COLUMNS + ["has_grad"]), min_size=1, max_size=4),
    min_step=st.one_of(st.none(), st.integers(-10, 250)),
    span=st.one_of(st.none(), st.integers(0, 260)),
    max_steps=st.integers(1, 30),
    draw=st.data(),
)
def test_any_well_formed_table_request_answers_a_consistent_table(
    netviz, run, stats, min_step, span, max_steps, draw
):
    params = {"run": run, "stats": ",".join(stats), "max_steps": max_steps}
    layers = draw.draw(
        st.one_of(st.none(), st.lists(st.sampled_from(RUN_LAYERS[run]), min_size=1, max_size=3))
    )
    if layers is not None:
        params["layers"] = ",".join(layers)
    if min_step is not None:
        params["min_step"] = min_step
    if span is not None:
        params["max_step"] = (min_step or 0) + span
    body = netviz.json("gradient_flow", **params)
    low, high = params.get("min_step", -(2**63)), params.get("max_step", 2**63)
    assert body["stats"] == list(dict.fromkeys(stats))
    assert body["layers"] == (RUN_LAYERS[run] if layers is None else list(dict.fromkeys(layers)))
    assert all(len(step) == len(body["layers"]) for step in body["values"])
    assert all(low <= step <= high for step in body["steps"]) and body["steps"] == sorted(set(body["steps"]))
    assert len(body["steps"]) <= max(max_steps, 4) and len(body["values"]) == len(body["steps"])
    assert all(len(row) == len(body["stats"]) for step in body["values"] for row in step)
    assert body["downsampled"] == (len(body["steps"]) < body["total_steps"])
