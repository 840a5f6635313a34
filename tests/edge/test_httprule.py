"""`google.api.http` path templates: parsing, matching, specificity (pure functions)."""

from __future__ import annotations

import pytest

from services.kit.httprule import TemplateError, parse_template


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
