# ruff: noqa: RUF001, E501 -- templates are data; the zh-Hans ones use full-width punctuation on purpose
"""Message templates in English and Simplified Chinese (jinja2).

HTML bodies are rendered with autoescaping, so a display name holding markup shows as text.
Subjects are one line: control characters (CR, LF, ...) are replaced by spaces before the
subject becomes a header, so no field can add headers. Text bodies are plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

LOCALES = ("en", "zh-Hans")
DEFAULT_LOCALE = "en"

# kind -> locale -> (subject, text body, html body)
_T: dict[str, dict[str, tuple[str, str, str]]] = {
    "invitation": {
        "en": (
            "Invitation: {{ title }}",
            "{{ inviter or 'Someone' }} invited you to \"{{ title }}\".\n"
            "{% if start %}When: {{ start }}\n{% endif %}"
            "{% if description %}\n{{ description }}\n{% endif %}\nJoin: {{ join_url }}\n",
            "<p>{{ inviter or 'Someone' }} invited you to <strong>{{ title }}</strong>.</p>"
            "{% if start %}<p>When: {{ start }}</p>{% endif %}"
            "{% if description %}<p>{{ description }}</p>{% endif %}"
            '<p><a href="{{ join_url }}">Join the meeting</a></p>',
        ),
        "zh-Hans": (
            "会议邀请：{{ title }}",
            "{{ inviter or '有人' }}邀请您参加“{{ title }}”。\n"
            "{% if start %}时间：{{ start }}\n{% endif %}"
            "{% if description %}\n{{ description }}\n{% endif %}\n加入：{{ join_url }}\n",
            "<p>{{ inviter or '有人' }}邀请您参加<strong>{{ title }}</strong>。</p>"
            "{% if start %}<p>时间：{{ start }}</p>{% endif %}"
            "{% if description %}<p>{{ description }}</p>{% endif %}"
            '<p><a href="{{ join_url }}">加入会议</a></p>',
        ),
    },
    "reminder": {
        "en": (
            "Starting soon: {{ title }}",
            '"{{ title }}" starts at {{ start }}.\nJoin: {{ join_url }}\n',
            '<p><strong>{{ title }}</strong> starts at {{ start }}.</p><p><a href="{{ join_url }}">Join</a></p>',
        ),
        "zh-Hans": (
            "即将开始：{{ title }}",
            "“{{ title }}”将于 {{ start }} 开始。\n加入：{{ join_url }}\n",
            '<p><strong>{{ title }}</strong>将于 {{ start }} 开始。</p><p><a href="{{ join_url }}">加入</a></p>',
        ),
    },
    "lobby_knock": {
        "en": (
            "Someone is waiting in the lobby",
            "{{ name or 'Someone' }} is waiting to join \"{{ title }}\".\n{{ join_url }}\n",
            '<p>{{ name or "Someone" }} is waiting to join <strong>{{ title }}</strong>.</p>',
        ),
        "zh-Hans": (
            "有人在等候室等待",
            "{{ name or '有人' }}正在等待加入“{{ title }}”。\n{{ join_url }}\n",
            "<p>{{ name or '有人' }}正在等待加入<strong>{{ title }}</strong>。</p>",
        ),
    },
    "recording_ready": {
        "en": (
            "Recording ready: {{ title }}",
            'The recording of "{{ title }}" is ready.\n{{ join_url }}\n',
            '<p>The recording of <strong>{{ title }}</strong> is ready.</p><p><a href="{{ join_url }}">Open</a></p>',
        ),
        "zh-Hans": (
            "录制已就绪：{{ title }}",
            "“{{ title }}”的录制已就绪。\n{{ join_url }}\n",
            '<p><strong>{{ title }}</strong>的录制已就绪。</p><p><a href="{{ join_url }}">打开</a></p>',
        ),
    },
    "transcript_ready": {
        "en": (
            "Transcript ready: {{ title }}",
            'The transcript of "{{ title }}" is ready.\n{{ join_url }}\n',
            '<p>The transcript of <strong>{{ title }}</strong> is ready.</p><p><a href="{{ join_url }}">Open</a></p>',
        ),
        "zh-Hans": (
            "文字记录已就绪：{{ title }}",
            "“{{ title }}”的文字记录已就绪。\n{{ join_url }}\n",
            '<p><strong>{{ title }}</strong>的文字记录已就绪。</p><p><a href="{{ join_url }}">打开</a></p>',
        ),
    },
    "password_reset": {
        "en": (
            "Reset your meetmesh password",
            "Someone asked to reset the password of your account. If it was you, open this link "
            "(it works once, until {{ expires }}):\n{{ reset_url }}\nIf it was not you, ignore this message.\n",
            "<p>Someone asked to reset the password of your account. If it was you, "
            '<a href="{{ reset_url }}">choose a new password</a> (the link works once, until {{ expires }}).</p>'
            "<p>If it was not you, ignore this message.</p>",
        ),
        "zh-Hans": (
            "重置您的 meetmesh 密码",
            "有人请求重置您账户的密码。如果是您本人，请打开此链接（仅可使用一次，有效期至 {{ expires }}）：\n"
            "{{ reset_url }}\n如果不是您本人，请忽略此邮件。\n",
            '<p>有人请求重置您账户的密码。如果是您本人，请<a href="{{ reset_url }}">设置新密码</a>'
            "（链接仅可使用一次，有效期至 {{ expires }}）。</p><p>如果不是您本人，请忽略此邮件。</p>",
        ),
    },
    "security_notice": {
        "en": (
            "Security notice: {{ 'new sign-in' if notice == 'new_sign_in' else 'session revoked' }}",
            "{% if notice == 'new_sign_in' %}There was a new sign-in to your account"
            "{% if client %} from {{ client }}{% endif %}.{% else %}A refresh token of your account was "
            "used twice, so that session was ended. If this was not you, change your password."
            "{% endif %}\n",
            "<p>{% if notice == 'new_sign_in' %}There was a new sign-in to your account"
            "{% if client %} from {{ client }}{% endif %}.{% else %}A refresh token of your account was "
            "used twice, so that session was ended. If this was not you, change your password."
            "{% endif %}</p>",
        ),
        "zh-Hans": (
            "安全通知：{{ '新的登录' if notice == 'new_sign_in' else '会话已撤销' }}",
            "{% if notice == 'new_sign_in' %}您的账户有新的登录{% if client %}（来自 {{ client }}）{% endif %}。"
            "{% else %}您账户的刷新令牌被重复使用，该会话已被终止。如果不是您本人，请修改密码。{% endif %}\n",
            "<p>{% if notice == 'new_sign_in' %}您的账户有新的登录{% if client %}（来自 {{ client }}）{% endif %}。"
            "{% else %}您账户的刷新令牌被重复使用，该会话已被终止。如果不是您本人，请修改密码。{% endif %}</p>",
        ),
    },
    "alert": {
        "en": (
            "[{{ status|upper }}] {{ alertname }}",
            "{{ status|upper }}: {{ alertname }}\n{{ summary }}\n",
            "<p><strong>{{ status|upper }}</strong>: {{ alertname }}</p><p>{{ summary }}</p>",
        ),
        "zh-Hans": (
            "[{{ status|upper }}] {{ alertname }}",
            "{{ status|upper }}：{{ alertname }}\n{{ summary }}\n",
            "<p><strong>{{ status|upper }}</strong>：{{ alertname }}</p><p>{{ summary }}</p>",
        ),
    },
    "message": {
        "en": ("{{ subject }}", "{{ text }}\n", "<p>{{ text }}</p>"),
        "zh-Hans": ("{{ subject }}", "{{ text }}\n", "<p>{{ text }}</p>"),
    },
}
KINDS = frozenset(_T)
# Kinds nobody can opt out of or unsubscribe from.
MANDATORY = frozenset({"password_reset", "security_notice", "alert"})

_FOOTER = {
    "en": (
        "\n--\nYou get this because of your meetmesh notification settings. "
        "Unsubscribe: {{ unsubscribe_url }}\n",
        '<hr><p style="font-size:small">Do not want these? '
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>.</p>',
    ),
    "zh-Hans": (
        "\n--\n您收到此邮件是因为您的 meetmesh 通知设置。退订：{{ unsubscribe_url }}\n",
        '<hr><p style="font-size:small">不想再收到？<a href="{{ unsubscribe_url }}">退订</a>。</p>',
    ),
}


def _sources() -> dict[str, str]:
    sources: dict[str, str] = {}
    for kind, locales in _T.items():
        for locale, (subject, text, html) in locales.items():
            sources[f"{locale}/{kind}.subject"] = subject
            sources[f"{locale}/{kind}.txt"] = (
                text + "{% if unsubscribe_url %}" + _FOOTER[locale][0] + "{% endif %}"
            )
            sources[f"{locale}/{kind}.html"] = (
                '<!doctype html><html><body style="font-family:sans-serif">'
                + html
                + "{% if unsubscribe_url %}"
                + _FOOTER[locale][1]
                + "{% endif %}</body></html>"
            )
    return sources


_ENV = Environment(
    loader=DictLoader(_sources()),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def pick_locale(*candidates: str) -> str:
    """The first supported locale of ``candidates`` (``zh``, ``zh-CN`` -> ``zh-Hans``)."""
    for candidate in candidates:
        if not candidate:
            continue
        if candidate in LOCALES:
            return candidate
        if candidate.lower().startswith("zh"):
            return "zh-Hans"
        if candidate.lower().startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def one_line(value: str, limit: int = 200) -> str:
    """A header-safe single line: control characters become spaces."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def render(kind: str, locale: str, params: dict[str, Any]) -> Rendered:
    """Subject, text and HTML of ``kind`` in ``locale``; missing parameters render empty."""
    if kind not in KINDS:
        raise KeyError(kind)
    locale = pick_locale(locale)
    values: dict[str, Any] = {
        "title": "",
        "inviter": "",
        "start": "",
        "description": "",
        "join_url": "",
        "name": "",
        "reset_url": "",
        "expires": "",
        "notice": "",
        "client": "",
        "status": "",
        "alertname": "",
        "summary": "",
        "subject": "",
        "text": "",
        "unsubscribe_url": "",
        **params,
    }
    subject = _ENV.get_template(f"{locale}/{kind}.subject").render(values)
    return Rendered(
        subject=one_line(subject),
        text=_ENV.get_template(f"{locale}/{kind}.txt").render(values),
        html=_ENV.get_template(f"{locale}/{kind}.html").render(values),
    )
