"""`google.api.http` path templates: parsing and matching.

Grammar (from google/api/http.proto)::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

A template compiles to one regular expression over the raw (still percent-encoded) request path;
each variable becomes a named group whose text is percent-decoded after the match. A raw ':' in
the path is the verb's separator: wildcards never match it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

HEAD_SEGMENTS = 2
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=@-]+$")


class TemplateError(ValueError):
    """A path template that does not follow the grammar."""


@dataclass(frozen=True)
class PathTemplate:
    """One compiled path template."""

    text: str
    regex: re.Pattern[str]
    #: Field paths of the variables, in group order (group `v0`, `v1`, ...).
    variables: tuple[str, ...]
    #: Literal segments plus the verb: more literals means a more specific template.
    literal_count: int
    verb: str | None
    #: The literal segments every matching path starts with (at most two, the verb's ':' aside):
    #: ``/v1/{name=users/*}`` -> ("v1", "users"). The catalog indexes bindings by them.
    head: tuple[str, ...] = ()

    def match(self, raw_path: str) -> dict[str, str] | None:
        """The decoded variable values if `raw_path` matches, else None."""
        m = self.regex.fullmatch(raw_path)
        if m is None:
            return None
        return {field: unquote(m.group(f"v{i}")) for i, field in enumerate(self.variables)}

    @property
    def specificity(self) -> tuple[int, int, int]:
        """Sort key: templates with a verb first, then more literals, then fewer `**`."""
        return (self.verb is not None, self.literal_count, -self.text.count("**"))


def _split_verb(text: str) -> tuple[str, str | None]:
    tail_start = max(text.rfind("}"), text.rfind("/"))
    colon = text.find(":", tail_start + 1)
    if colon < 0:
        return text, None
    verb = text[colon + 1 :]
    if not _LITERAL.fullmatch(verb):
        raise TemplateError(f"bad verb in {text!r}")
    return text[:colon], verb


def _split_segments(text: str) -> list[str]:
    """Splits on '/' outside braces."""
    segments: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError("unbalanced braces")
        if ch == "/" and depth == 0:
            segments.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise TemplateError("unbalanced braces")
    segments.append("".join(current))
    return segments


def _wildcard_regex(segment: str) -> tuple[str, int]:
    # A raw ':' ends the path and starts the verb, so no wildcard matches one: otherwise
    # `/v1/{name=meetings/*}` would swallow `/v1/meetings/m:end` (a ':' inside a value is sent
    # percent-encoded, `%3A`, and still matches).
    if segment == "*":
        return "[^/:]+", 0
    if segment == "**":
        return "[^:]+", 0
    if not _LITERAL.fullmatch(segment):
        raise TemplateError(f"bad literal segment {segment!r}")
    return re.escape(segment), 1


def parse_template(text: str) -> PathTemplate:
    """Compiles a `google.api.http` path template."""
    if not text.startswith("/"):
        raise TemplateError(f"template must start with '/': {text!r}")
    body, verb = _split_verb(text[1:])
    parts: list[str] = []
    variables: list[str] = []
    flat: list[tuple[str, int]] = []  # every segment, variables' inner ones included: (text, literal?)
    for segment in _split_segments(body):
        if segment.startswith("{"):
            if not segment.endswith("}"):
                raise TemplateError(f"bad variable {segment!r}")
            field, _, inner = segment[1:-1].partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", field):
                raise TemplateError(f"bad field path {field!r}")
            inner_parts = []
            for sub in _split_segments(inner or "*"):
                regex, lit = _wildcard_regex(sub)
                inner_parts.append(regex)
                flat.append((sub, lit))
            parts.append(f"(?P<v{len(variables)}>{'/'.join(inner_parts)})")
            variables.append(field)
        else:
            regex, lit = _wildcard_regex(segment)
            parts.append(regex)
            flat.append((segment, lit))
    literals = (1 if verb else 0) + sum(lit for _, lit in flat)
    head: list[str] = []
    for sub, lit in flat:  # the literal segments every match starts with
        if not lit or len(head) == HEAD_SEGMENTS:
            break
        head.append(sub)
    pattern = "/" + "/".join(parts) + (re.escape(":" + verb) if verb else "")
    return PathTemplate(text, re.compile(pattern), tuple(variables), literals, verb, tuple(head))


def path_head(raw_path: str) -> tuple[str, ...]:
    """The first :data:`HEAD_SEGMENTS` segments of a request path, each cut at a raw ':' (where a
    verb starts: no literal or wildcard matches one), to compare with :attr:`PathTemplate.head`."""
    segments = raw_path.split("/", HEAD_SEGMENTS + 1)[1 : HEAD_SEGMENTS + 1]
    return tuple(segment.partition(":")[0] for segment in segments)
