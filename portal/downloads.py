"""Sending a decrypted evidence file to a browser, the same way in both apps.

Whatever the file claims to be (an HTML page, an SVG with a script, a PDF), it goes out as an
opaque download: `application/octet-stream`, `Content-Disposition: attachment` with a cleaned name,
no sniffing, and a sandboxing policy in case a browser renders it anyway. The body is decrypted as
it is sent, a batch of chunks at a time; `Content-Length` is the size sealed with the file, so a
download cut short by a damaged chunk shows in the browser as failed rather than as a complete file.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Response

from portal import attachments
from portal.db import Database
from portal.models import Attachment


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the real (Vietnamese) name in RFC 5987 form."""
    fallback = attachments.ascii_file_name(name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(attachments.safe_file_name(name), safe='')}"


def file_response(db: Database, attachment: Attachment, info: attachments.FileInfo) -> Response:
    response = Response(
        attachments.plaintext(db, attachment, info), mimetype="application/octet-stream", direct_passthrough=True
    )
    response.content_length = info.size
    response.headers["Content-Disposition"] = content_disposition(info.name)
    return response
