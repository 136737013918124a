"""squash() against the image spec's layer rules, applied naively to a dict (property-based)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.image.layers import LayerResult, squash

_PATHS = ["a", "a/b", "a/b/c", "a/b/d", "a/e", "f", "f/g"]


@st.composite
def _layer_stacks(draw: st.DrawFn) -> list[LayerResult]:
    stack = []
    for index in range(draw(st.integers(1, 4))):
        files = draw(st.sets(st.sampled_from(_PATHS)))
        result = LayerResult(
            layer=f"l{index}", results={"all": {p: [f"{p}@{index}".encode()] for p in files}}
        )
        result.non_dirs = set(files) | draw(st.sets(st.sampled_from(_PATHS)))  # plus symlinks, devices...
        result.whiteouts = draw(st.sets(st.sampled_from(_PATHS)))
        result.opaque_dirs = draw(st.sets(st.sampled_from(_PATHS)))
        stack.append(result)
    return stack


def _apply_by_the_book(stack: list[LayerResult]) -> dict[str, bytes]:
    """The OCI image spec's layer semantics on a plain dict, one rule at a time."""
    fs: dict[str, bytes] = {}
    for layer in stack:
        for d in layer.opaque_dirs:  # lower contents of an opaque directory disappear
            fs = {p: v for p, v in fs.items() if not p.startswith(d + "/")}
        for w in layer.whiteouts:  # a whiteout deletes the path and all beneath it
            fs = {p: v for p, v in fs.items() if p != w and not p.startswith(w + "/")}
        for x in layer.non_dirs:  # a non-directory replaces the path (and a directory there)
            fs = {p: v for p, v in fs.items() if p != x and not p.startswith(x + "/")}
        for p, found in layer.results["all"].items():
            fs[p] = found[0]
    return fs


@given(_layer_stacks())
@settings(max_examples=500, deadline=None)
def test_squash_follows_the_image_spec(stack: list[LayerResult]) -> None:
    view = squash(stack)
    assert {p: placed.results[0] for p, placed in view.results.get("all", {}).items()} == _apply_by_the_book(
        stack
    )
