"""Citizens' attachments: the type is read from the content, never from the name.

Only images (JPEG, PNG, GIF, WEBP) and PDF are accepted, at most
``MAX_FILES`` files of at most ``MAX_FILE_BYTES`` each.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext as _

from routing.intake import IncomingFile

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES = 5
# The whole form may carry every file at the maximum plus the text fields.
MAX_REQUEST_BYTES = MAX_FILES * MAX_FILE_BYTES + 1024 * 1024


@dataclass(frozen=True)
class FileKind:
    content_type: str
    extension: str


JPEG = FileKind("image/jpeg", "jpg")
PNG = FileKind("image/png", "png")
GIF = FileKind("image/gif", "gif")
WEBP = FileKind("image/webp", "webp")
PDF = FileKind("application/pdf", "pdf")


def sniff(head: bytes) -> FileKind | None:
    """The kind of a file from its first bytes (its "magic number"), or None when not allowed."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    # PDF readers accept the header anywhere in the first KiB, but we ask for the standard place.
    if head.startswith(b"%PDF-"):
        return PDF
    return None


class UploadError(ValueError):
    """Files that cannot be accepted; ``messages`` are for the citizen, one per problem."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def safe_name(original: str, kind: FileKind) -> str:
    """The citizen's file name without any path, control characters or misleading extension."""
    base = os.path.basename((original or "").replace("\\", "/"))
    stem = os.path.splitext(base)[0]
    stem = unicodedata.normalize("NFC", stem)
    stem = re.sub(r"[^\w\-. ]", "", stem, flags=re.UNICODE).strip(" .")[:80] or "attachment"
    return f"{stem}.{kind.extension}"


def read_upload(uploaded) -> IncomingFile:
    """Check one uploaded file and read it; raises UploadError with a message naming the file."""
    name = os.path.basename((uploaded.name or "").replace("\\", "/"))[:100] or _("（未命名文件）")
    if uploaded.size > MAX_FILE_BYTES:
        raise UploadError(_("文件「%(name)s」超过 %(mb)d MB，请压缩后再上传") % {"name": name, "mb": MAX_FILE_BYTES // (1024 * 1024)})
    if uploaded.size == 0:
        raise UploadError(_("文件「%(name)s」是空文件") % {"name": name})
    uploaded.seek(0)
    data = uploaded.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UploadError(_("文件「%(name)s」超过 %(mb)d MB，请压缩后再上传") % {"name": name, "mb": MAX_FILE_BYTES // (1024 * 1024)})
    kind = sniff(data[:16])
    if kind is None:
        raise UploadError(_("文件「%(name)s」不是允许的类型：只能上传 JPEG、PNG、GIF、WEBP 图片或 PDF 文件") % {"name": name})
    return IncomingFile(name=safe_name(uploaded.name, kind), content_type=kind.content_type, data=data)


def read_uploads(files: list) -> list[IncomingFile]:
    """Check every file of a form; raises one UploadError naming every problem."""
    if len(files) > MAX_FILES:
        raise UploadError(_("最多上传 %(n)d 个附件，您选择了 %(got)d 个") % {"n": MAX_FILES, "got": len(files)})
    accepted, problems = [], []
    for uploaded in files:
        try:
            accepted.append(read_upload(uploaded))
        except UploadError as exc:
            problems.extend(exc.messages)
    if problems:
        raise UploadError(*problems)
    return accepted
