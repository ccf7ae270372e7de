"""The authorisation wall, checked on every URL that carries an object ID.

The routes are not listed by hand: they are read from the URL conf, so an endpoint
added later (``mailboxes/{id}/fetch/``, ``messages/{id}/``…) is checked the moment
it exists. For every such route and every HTTP method:

- a user of another tenant gets 404, with or without rights, and nothing of the
  object in the answer — the same answer as for an ID that does not exist;
- an unknown ID gives 404 even to an administrator;
- an insider without any relation to the object (no right, not an owner, a former
  group member) is refused with 403 or 404, never served;
- anonymous visitors are sent to the login page or refused;
- refusals change nothing.

``EXPECTED`` adds the designed answers for the routes known today (who gets 2xx,
who gets 403). A route missing from it still gets every rule above; a route whose
ID belongs to an object kind this file does not know fails, so it cannot slip by.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern

from postkamer.accounts.services import root_organisation
from postkamer.fetching.models import FetchRun
from postkamer.sending.models import OutgoingMessage
from tests import factories

pytestmark = pytest.mark.django_db

ID_KWARGS = ("pk", "mailbox_pk", "id")
METHODS = ("get", "post", "put", "patch", "delete")
UNKNOWN_ID = 987654321

# The URL segment in front of the ID says what kind of object it is.
KIND_BY_SEGMENT = {
    "mailboxes": "mailbox",
    "e-mailmanager": "mailbox",
    "messages": "message",
    "organisations": "organisation",
    "email": "mailbox",
    "fetch-runs": "fetch_run",
    "deleted": "deleted_mailbox",
    "deleted-mailboxes": "deleted_mailbox",
    "outgoing": "outgoing",
}
# URL prefixes that are not the product's own (Django's admin has its own staff checks).
IGNORED_PREFIXES = ("admin/",)


@dataclass(frozen=True)
class Route:
    chain: tuple[Any, ...]  # resolvers and the final URLPattern
    route: str  # readable, for the test ID
    name: str | None
    id_kwarg: str
    kind: str | None
    kwargs: tuple[str, ...]


def _pattern_kwargs(pattern: Any) -> list[str]:
    if isinstance(pattern, RoutePattern):
        return list(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return list(pattern.regex.groupindex)
    return []


def _walk(patterns: list[Any], chain: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, (*chain, entry))
        elif isinstance(entry, URLPattern):
            yield (*chain, entry)


def _readable(chain: tuple[Any, ...]) -> str:
    return "".join(str(p.pattern).removeprefix("^").removesuffix("$") for p in chain)


def _kind(route: str, id_kwarg: str) -> str | None:
    placeholder = re.search(rf"<(?:\w+:)?{id_kwarg}>|\(\?P<{id_kwarg}>", route)
    assert placeholder is not None, route
    segment = route[: placeholder.start()].rstrip("/").rsplit("/", 1)[-1]
    return KIND_BY_SEGMENT.get(segment)


def id_routes() -> list[Route]:
    """Every URL pattern of the project whose route carries an object ID."""
    routes = []
    for chain in _walk(get_resolver().url_patterns):
        readable = _readable(chain)
        if readable.startswith(IGNORED_PREFIXES):
            continue
        kwargs = [k for p in chain for k in _pattern_kwargs(p.pattern)]
        id_kwarg = next((k for k in ID_KWARGS if k in kwargs), None)
        if id_kwarg is None:
            continue
        routes.append(
            Route(
                chain=chain,
                route=readable,
                name=chain[-1].name,
                id_kwarg=id_kwarg,
                kind=_kind(readable, id_kwarg),
                kwargs=tuple(kwargs),
            )
        )
    return routes


def _fill_regex(regex: str, values: dict[str, str]) -> str:
    """Replace each named group of ``regex`` by its value and drop the anchors."""
    out, i = [], 0
    while i < len(regex):
        if regex.startswith("(?P<", i):
            name = regex[i + 4 : regex.index(">", i)]
            depth, j = 0, i
            while True:  # find the group's closing parenthesis
                if regex[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(regex[j], 0)
                if depth == 0:
                    break
                j += 1
            out.append(values[name])
            i = j + 1
        else:
            out.append(regex[i])
            i += 1
    text = "".join(out).lstrip("^").rstrip("$")
    return text.replace("\\.", ".").replace("/?", "/")


def build_url(route: Route, values: dict[str, str]) -> str:
    parts = []
    for p in route.chain:
        if isinstance(p.pattern, RoutePattern):
            parts.append(re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], str(p.pattern)))
        else:
            parts.append(_fill_regex(p.pattern.regex.pattern, values))
    url = "/" + "".join(parts)
    # The URL must lead back to this very pattern, or the test would check another.
    assert resolve(url).func is route.chain[-1].callback, f"{route.route}: built {url}"
    return url


ROUTES = id_routes()


def test_the_matrix_sees_the_mailbox_routes_of_today():
    names = {r.name for r in ROUTES}
    assert {
        "mailbox-edit",
        "mailbox-owners-tab",
        "api-mailbox-detail",
        "api-mailbox-owners",
        "mailbox-auto-reply",
        "api-auto-reply",
        "api-auto-reply-replies",
        "api-send",
        "api-template",
        "mailbox-template",
        "sending-edit",
    } <= names


def test_every_id_route_has_a_known_object_kind():
    unknown = [r.route for r in ROUTES if r.kind is None]
    assert not unknown, f"add these routes' object kind to KIND_BY_SEGMENT: {unknown}"


def test_url_names_are_unique():
    # Two routes with one name make reverse() pick the wrong one (it happened once).
    seen: dict[str, set[str]] = {}
    for chain in _walk(get_resolver().url_patterns):
        name = chain[-1].name
        if name and not _readable(chain).startswith(IGNORED_PREFIXES):
            # DRF adds ".json"-style twins of each route under the same name.
            route = _readable(chain).replace(r"\.(?P<format>[a-z0-9]+)/?", "")
            route = route.replace("<drf_format_suffix:format>", "").rstrip("/")
            seen.setdefault(name, set()).add(route)
    clashes = {n: r for n, r in seen.items() if len(r) > 1}
    assert not clashes


# --- personas and objects ----------------------------------------------------


@pytest.fixture
def world(office):
    """Tenant A's personas around ``office.mailbox``, and two outsiders in tenant B."""
    w = office
    team = factories.group(w.tenant, "Schade")
    w.member = factories.user(w.tenant, groups=("Schade",))
    w.former = factories.user(w.tenant, groups=("Schade",))
    team.members.remove(w.former)
    w.mailbox.owner_groups.add(team)
    w.insider = factories.user(w.tenant)
    w.outsider_plain = factories.user(w.other_tenant)
    w.persons = {
        "admin": w.admin,
        "manager": w.manager,
        "owner": w.advisor,
        "member": w.member,
        "former": w.former,
        "insider": w.insider,
        "outsider": w.outsider,
        "outsider_plain": w.outsider_plain,
    }
    return w


def _deleted_mailbox_id(w: Any) -> str:
    from postkamer.mailboxes.actions import do_delete_mailbox

    gone = factories.mailbox(w.tenant, owners=(w.advisor,))
    pk = gone.pk
    do_delete_mailbox(w.admin, gone)
    return str(pk)


def _message_id(w: Any) -> str:
    # Stored as fetched, with an inline image (position 0) and an attachment, so the
    # download and inline-image routes have something to serve to those allowed.
    raw = factories.mime_message(
        html='<p><img src="cid:logo@x.test"></p>',
        inline=(("logo@x.test", "image/png", b"\x89PNG\r\n\x1a\n"),),
        attachments=(("polis.pdf", "application/pdf", b"%PDF-1.4"),),
    )
    return str(factories.stored(w.mailbox, raw).pk)


OBJECT_IDS: dict[str, Callable[[Any], str]] = {
    "mailbox": lambda w: str(w.mailbox.pk),
    "organisation": lambda w: str(root_organisation(w.tenant).pk),
    "message": _message_id,
    "fetch_run": lambda w: str(FetchRun.objects.create(mailbox=w.mailbox, trigger="button").pk),
    "deleted_mailbox": _deleted_mailbox_id,
    # A draft the owner is writing: only its author ever sees it.
    "outgoing": lambda w: str(
        OutgoingMessage.objects.create(mailbox=w.mailbox, author=w.advisor, subject="Concept").pk
    ),
}

# Values for the other parts of a route; anything else gets "1".
OTHER_VALUES: dict[str, Callable[[Any], str]] = {
    "kind": lambda w: "user",
    "owner_id": lambda w: str(w.advisor.pk),
    "format": lambda w: "json",
    "n": lambda w: "0",  # the first attachment of a message
}


def _values(route: Route, w: Any, object_id: str) -> dict[str, str]:
    values = {k: OTHER_VALUES[k](w) if k in OTHER_VALUES else "1" for k in route.kwargs}
    values[route.id_kwarg] = object_id
    return values


def _request(client: Client, method: str, url: str, data: dict | None = None):
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    return getattr(client, method)(url, data or {}, content_type="application/json")


def _as(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _state(w: Any) -> tuple:
    box = w.mailbox.__class__.objects.filter(pk=w.mailbox.pk).values().first()
    return (
        box,
        sorted(w.mailbox.owner_users.values_list("pk", flat=True)),
        sorted(w.mailbox.owner_groups.values_list("pk", flat=True)),
        w.mailbox.audit_entries.count(),
    )


# --- designed answers --------------------------------------------------------
# Per URL name: (persona, method, form data, expected status), run in this order
# after the refusals. HTML forms are posted as forms, the API gets JSON.

Check = tuple[str, str, dict[str, Any], int]


def _owner(w: Any) -> dict[str, Any]:
    return {"user": w.manager.pk}


EXPECTED: dict[str, list[tuple[str, str, Callable[[Any], dict[str, Any]] | None, int]]] = {
    "mailbox-edit": [("manager", "get", None, 200), ("owner", "get", None, 403)],
    "mailbox-delete": [("admin", "get", None, 200), ("member", "get", None, 403)],
    "mailbox-test": [("owner", "post", None, 403)],
    "mailbox-owners-tab": [("manager", "get", None, 200), ("owner", "get", None, 403)],
    "mailbox-log": [("manager", "get", None, 200), ("member", "get", None, 403)],
    "mailbox-owners-add": [
        ("owner", "post", _owner, 403),
        ("manager", "post", lambda w: {"group": w.mailbox.owner_groups.get().pk}, 403),
        ("manager", "post", _owner, 302),
    ],
    "mailbox-owners-remove": [("member", "post", _owner, 403), ("admin", "post", _owner, 302)],
    "api-mailbox-detail": [
        ("owner", "get", None, 200),
        ("member", "get", None, 200),
        ("manager", "get", None, 200),
        ("owner", "patch", lambda w: {"name": "x"}, 403),
        ("member", "delete", None, 403),
        ("manager", "patch", lambda w: {"name": "Nieuwe naam"}, 200),
    ],
    "api-mailbox-test-connection": [("owner", "post", None, 403)],
    "api-mailbox-owners": [
        ("owner", "get", None, 403),
        ("member", "post", _owner, 403),
        ("manager", "get", None, 200),
        ("manager", "post", lambda w: {"group": w.mailbox.owner_groups.get().pk}, 403),
        ("manager", "post", _owner, 201),
    ],
    "api-mailbox-owner-remove": [("owner", "delete", None, 403), ("admin", "delete", None, 204)],
    "api-mailbox-audit": [("owner", "get", None, 403), ("manager", "get", None, 200)],
    "api-organisation-users": [("owner", "get", None, 403), ("manager", "get", None, 200)],
    "mailbox-auto-reply": [
        ("manager", "get", None, 200),
        ("owner", "get", None, 403),
        ("owner", "post", lambda w: {"interval_days": "7"}, 403),
        ("manager", "post", lambda w: {"interval_days": "7"}, 302),
    ],
    "api-auto-reply": [
        ("owner", "get", None, 403),
        ("member", "put", lambda w: {"enabled": False}, 403),
        ("manager", "get", None, 200),
        ("manager", "put", lambda w: {"interval_days": 3}, 200),
    ],
    "api-auto-reply-replies": [("owner", "get", None, 403), ("manager", "get", None, 200)],
    "mailbox-deleted-log": [("owner", "get", None, 403), ("manager", "get", None, 200)],
    "api-deleted-mailbox-audit": [("owner", "get", None, 403), ("manager", "get", None, 200)],
    "api-mailbox-repair-sync": [
        ("manager", "post", lambda w: {"since": "2026-10-01T08:30:00Z", "confirm": True}, 403),
        ("admin", "post", lambda w: {"since": "2026-10-01T08:30:00Z"}, 400),
    ],
    "api-mailbox-imap-folders": [("owner", "get", None, 403)],
    "mailbox-template": [("manager", "get", None, 200), ("owner", "get", None, 403)],
    # An IMAP mailbox: the manager is sent back to its page with a message.
    "mailbox-microsoft-connect": [("owner", "get", None, 403), ("manager", "get", None, 302)],
    "mailbox-google-connect": [("member", "get", None, 403), ("manager", "get", None, 302)],
    "mailbox-oauth-disconnect": [("owner", "post", None, 403), ("manager", "post", None, 302)],
    "api-template": [
        ("owner", "get", None, 403),
        ("owner", "put", lambda w: _template(), 403),
        ("manager", "get", None, 200),
        ("manager", "put", lambda w: _template(), 200),
    ],
    "api-send": [
        ("manager", "post", lambda w: _mail(), 403),
        ("owner", "post", lambda w: _mail(), 202),
        ("member", "post", lambda w: _mail(), 202),
    ],
    "sending-addresses": [
        ("owner", "get", None, 200),
        ("member", "get", None, 200),
        ("manager", "get", None, 403),
    ],
    # Another reader of the mailbox does not see the author's draft.
    "sending-edit": [("member", "get", None, 404), ("owner", "get", None, 200)],
    "sending-status": [("member", "get", None, 404), ("owner", "get", None, 200)],
    "sending-delete": [("member", "post", None, 404), ("owner", "post", None, 302)],
    "api-outgoing": [("member", "get", None, 404), ("owner", "get", None, 200)],
    "email-message": [
        ("manager", "get", None, 403),
        ("owner", "get", None, 200),
        ("member", "get", None, 200),
    ],
    "email-message-body": [("manager", "get", None, 403), ("member", "get", None, 200)],
    "email-message-inline": [("manager", "get", None, 403), ("owner", "get", None, 200)],
    "email-message-attachment": [("manager", "get", None, 403), ("member", "get", None, 200)],
    "email-message-raw": [("manager", "get", None, 403), ("owner", "get", None, 200)],
    "email-message-unread": [("manager", "post", None, 403), ("owner", "post", None, 302)],
    "api-message": [
        ("manager", "get", None, 403),
        ("manager", "patch", lambda w: {"read": True}, 403),
        ("owner", "get", None, 200),
        ("member", "patch", lambda w: {"read": True}, 200),
    ],
    "api-message-raw": [("manager", "get", None, 403), ("owner", "get", None, 200)],
    "api-message-attachment": [("manager", "get", None, 403), ("member", "get", None, 200)],
}


def _template() -> dict[str, Any]:
    return {"font_family": "Verdana", "font_size": 12, "font_color": "#123456"}


def _mail() -> dict[str, Any]:
    return {"to": ["klant@voorbeeld.test"], "subject": "Hallo", "body_html": "<p>Hallo</p>"}


@pytest.mark.parametrize("route", ROUTES, ids=[r.route for r in ROUTES])
def test_the_authorisation_wall_holds_on(route: Route, world: Any) -> None:
    w = world
    if route.kind is None:
        pytest.skip("reported by test_every_id_route_has_a_known_object_kind")
    url = build_url(route, _values(route, w, OBJECT_IDS[route.kind](w)))
    unknown_url = build_url(route, _values(route, w, str(UNKNOWN_ID)))
    secrets = [w.mailbox.name, w.mailbox.sender_address]
    before = _state(w)

    admin = _as(w.admin)
    allowed = []
    for method in METHODS:
        unknown = _request(admin, method, unknown_url)
        if unknown.status_code == 405:
            continue  # the route does not take this method, whatever the ID
        allowed.append(method)
        assert unknown.status_code == 404, (method, unknown_url, unknown.status_code)
    assert allowed, f"{route.route} answers no method at all"

    for persona in ("outsider", "outsider_plain"):
        client = _as(w.persons[persona])
        for method in allowed:
            response = _request(client, method, url)
            assert response.status_code == 404, (persona, method, url, response.status_code)
            body = response.content.decode(errors="replace")
            assert not any(s in body for s in secrets), (persona, method, url)

    for persona in ("insider", "former"):
        client = _as(w.persons[persona])
        for method in allowed:
            response = _request(client, method, url)
            assert response.status_code in (403, 404), (persona, method, url, response.status_code)

    anonymous = Client()
    for method in allowed:
        response = _request(anonymous, method, url)
        if response.status_code == 302:
            assert response.url.startswith("/account/login/"), (method, url)
        else:
            assert response.status_code in (401, 403), (method, url, response.status_code)

    assert _state(w) == before, f"a refused request changed something on {route.route}"

    for persona, method, data, status in EXPECTED.get(route.name or "", []):
        client = _as(w.persons[persona])
        body = data(w) if data else None
        if route.route.startswith("api/"):
            response = _request(client, method, url, body)
        elif method == "post":
            response = client.post(url, body or {})
        else:
            response = _request(client, method, url)
        assert response.status_code == status, (persona, method, url, response.status_code)
