"""`google.api.http` path templates: parsing, matching, specificity (pure functions)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.kit.catalog import load_catalog
from services.kit.httprule import TemplateError, parse_template

GEN = Path(__file__).resolve().parents[2] / "gen"


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("/v1/users:register", "/v1/users:register", {}),
        ("/v1/{name=users/*}", "/v1/users/u1", {"name": "users/u1"}),
        ("/v1/{name=users/*}:disable", "/v1/users/u1:disable", {"name": "users/u1"}),
        (
            "/v1/{name=meetings/*/participants/*}",
            "/v1/meetings/m/participants/p",
            {"name": "meetings/m/participants/p"},
        ),
        ("/v1/{parent=meetings/*}/invitations", "/v1/meetings/m%2F1/invitations", {"parent": "meetings/m/1"}),
        ("/v1/{user.name=users/*}", "/v1/users/a%20b", {"user.name": "users/a b"}),
        (
            "/v1/{parent=rooms/*}/echoes/{note.text}",
            "/v1/rooms/r/echoes/hi",
            {"parent": "rooms/r", "note.text": "hi"},
        ),
        ("/v1/files/{path=**}", "/v1/files/a/b/c", {"path": "a/b/c"}),
        ("/v1/{name=users/*}", "/v1/users/a%3Ab", {"name": "users/a:b"}),
    ],
)
def test_matches(template: str, path: str, expected: dict[str, str]) -> None:
    assert parse_template(template).match(path) == expected


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/v1/{name=users/*}", "/v1/users"),
        ("/v1/{name=users/*}", "/v1/users/a/b"),
        ("/v1/{name=users/*}", "/v1/groups/a"),
        ("/v1/{name=users/*}:disable", "/v1/users/a"),
        ("/v1/users:register", "/v1/users:login"),
        ("/v1/{name=users/*}", "/v1/users/"),
        # A wildcard never swallows the verb (issue 11): these paths belong to other bindings.
        ("/v1/{name=meetings/*}", "/v1/meetings/0:end"),
        ("/v1/{name=meetings/*/participants/*}", "/v1/meetings/m/participants/p:admit"),
        ("/v1/files/{path=**}", "/v1/files/a/b:undo"),
    ],
)
def test_does_not_match(template: str, path: str) -> None:
    assert parse_template(template).match(path) is None


@pytest.mark.parametrize("template", ["v1/users", "/v1/{name=users/*", "/v1/{1name}", "/v1/a b", "/v1/x:"])
def test_rejects_malformed_templates(template: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(template)


def test_specificity_puts_verbs_and_literals_first() -> None:
    templates = ["/v1/{name=users/*}", "/v1/users:register", "/v1/{name=users/*}:disable", "/v1/users"]
    ordered = sorted(templates, key=lambda t: parse_template(t).specificity, reverse=True)
    assert ordered[:2] == ["/v1/users:register", "/v1/{name=users/*}:disable"]


@pytest.mark.parametrize(
    ("template", "head"),
    [
        ("/v1/users:register", ("v1", "users")),
        ("/v1/{name=users/*}:disable", ("v1", "users")),
        ("/v1/{parent=rooms/*}/echoes/{note.text}", ("v1", "rooms")),
        ("/v1/{name}", ("v1",)),
        ("/{name=**}", ()),
        ("/v1:ping", ("v1",)),
    ],
)
def test_head_is_the_literal_start_every_match_shares(template: str, head: tuple[str, ...]) -> None:
    assert parse_template(template).head == head


def test_the_indexed_catalog_matches_as_a_scan_of_every_binding_would() -> None:
    """The edge's catalog looks a JSON path up among the bindings that share its first segments;
    for every binding of the contract, and paths built from it, the answer is the full scan's."""
    catalog = load_catalog(GEN / "meetmesh.binpb")

    def scan(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for binding, _ in catalog.routes.get(method, ()):
            variables = binding.template.match(path)
            if variables is not None:
                return binding.template.text, variables
        return None

    paths = {("GET", "/"), ("GET", "/v1"), ("GET", "/v1/nothing/here"), ("POST", "/v1/meetings:nope")}
    for routes in catalog.routes.values():
        for binding, _ in routes:
            for value in ("m1", "a%3Ab", "a/b"):
                path = re.sub(r"\{[^}=]*=([^}]*)\}", r"\1", binding.template.text)
                path = re.sub(r"\{[^}]*\}", value.split("/")[0], path)
                path = path.replace("**", value).replace("*", value.split("/")[0])
                paths |= {(other, path) for other in catalog.routes}
    matched = 0
    for method, path in sorted(paths):
        found = catalog.match(method, path)
        assert (found and (found[0].template.text, found[2])) == scan(method, path), (method, path)
        matched += found is not None
    assert matched > len(catalog.routes["GET"]) + len(catalog.routes["POST"])  # most paths matched
