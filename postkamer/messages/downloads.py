"""Attachments, inline images and the original .eml, streamed from the raw store.

Nothing here reads a whole message into memory: the raw bytes are mapped
(``rawstore.mapped``), the part is found by its boundaries and decoded a chunk at a
time (``mail/parts.py``), so serving a 10 MB attachment costs a chunk of memory,
not the attachment (``bench/bench_reading.py`` measures it).

Every download carries ``X-Content-Type-Options: nosniff`` and a sandboxing CSP,
so a browser never runs an attachment as a page of ours; file names are
sanitised (no path, control or bidirectional characters) and sent per RFC 6266.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import ExitStack

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from postkamer.mail import parts
from postkamer.messages import rawstore
from postkamer.messages.models import Attachment, Message, RawMessage
from postkamer.messages.textsafety import strip_bidi

DOWNLOAD_CSP = "default-src 'none'; sandbox"
_CTYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
# Inline images are shown inside the message; only raster formats (an SVG is a
# document that can carry script).
INLINE_IMAGE_TYPES = frozenset(
    ["image/png", "image/gif", "image/jpeg", "image/jpg", "image/webp", "image/bmp"]
)
MAX_FILENAME = 150


def safe_filename(name: str, fallback: str) -> str:
    """``name`` fit to be a downloaded file's name: no directories, no control,
    format or bidirectional-override characters, no leading dots, at most
    :data:`MAX_FILENAME` characters; ``fallback`` when nothing is left."""
    name = strip_bidi(name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in name)
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and len(ext) <= 10 else ""
        name = (stem if ext else name)[: MAX_FILENAME - len(ext) - 1].rstrip() + (
            f".{ext}" if ext else ""
        )
    return name or fallback


def safe_content_type(value: str) -> str:
    """The stored content type when it is a plain ``type/subtype``, else octet-stream."""
    value = (value or "").strip().lower()
    return value if _CTYPE_RE.match(value) else "application/octet-stream"


def _raw(message: Message) -> RawMessage:
    # Without the bytes column: rawstore.mapped reads large database rows in pieces.
    return RawMessage.objects.defer("data").get(pk=message.raw_id)


def _stream(message: Message, part: str) -> Iterator[bytes]:
    """Open the raw message and find ``part`` now (so a missing part is a 404, not
    a broken download), then yield its decoded chunks; closing the generator
    releases the mapping."""
    stack = ExitStack()
    try:
        view = stack.enter_context(rawstore.mapped(_raw(message)))
        located = parts.locate(view.buffer, part, view.start, view.end)
    except rawstore.RawMissing:
        stack.close()
        raise Http404(_("The stored message could not be read.")) from None
    except BaseException:
        stack.close()
        raise
    if located is None:
        stack.close()
        raise Http404(_("Attachment not found."))

    def chunks() -> Iterator[bytes]:
        with stack:
            yield from parts.iter_decoded(view.buffer, located)

    return chunks()


def _protect(response: HttpResponse | StreamingHttpResponse) -> None:
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = DOWNLOAD_CSP


def attachment_at(message: Message, n: int) -> Attachment:
    """The ``n``-th attachment of ``message`` (from 0, in the order the API lists them)."""
    attachments = list(message.attachments.all())
    if not 0 <= n < len(attachments):
        raise Http404(_("Attachment not found."))
    return attachments[n]


def attachment_response(message: Message, n: int) -> StreamingHttpResponse:
    """The ``n``-th attachment as a download."""
    attachment = attachment_at(message, n)
    response = StreamingHttpResponse(
        _stream(message, attachment.part), content_type=safe_content_type(attachment.content_type)
    )
    response["Content-Disposition"] = content_disposition_header(
        True, safe_filename(attachment.filename, _("attachment-%(n)s") % {"n": n + 1})
    )
    _protect(response)
    return response


def inline_image_response(message: Message, n: int) -> StreamingHttpResponse:
    """The ``n``-th attachment shown in place, if it is an inline raster image."""
    attachment = attachment_at(message, n)
    content_type = safe_content_type(attachment.content_type)
    if content_type not in INLINE_IMAGE_TYPES:
        raise Http404(_("Attachment not found."))
    response = StreamingHttpResponse(_stream(message, attachment.part), content_type=content_type)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, max-age=3600"
    _protect(response)
    return response


def raw_response(message: Message) -> StreamingHttpResponse:
    """The message exactly as fetched, as a ``.eml`` download."""
    stack = ExitStack()
    try:
        view = stack.enter_context(rawstore.mapped(_raw(message)))
    except rawstore.RawMissing:
        stack.close()
        raise Http404(_("The stored message could not be read.")) from None

    def chunks() -> Iterator[bytes]:
        with stack:
            yield from view.chunks()

    response = StreamingHttpResponse(chunks(), content_type="message/rfc822")
    response["Content-Disposition"] = content_disposition_header(True, f"message-{message.pk}.eml")
    response["Content-Length"] = str(view.end - view.start)
    _protect(response)
    return response
