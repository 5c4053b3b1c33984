"""pifu: read 部门整体绩效目标批复 exports into a document model, and from there into a warehouse.

`pifu.parse(path)` returns a `pifu.model.Document`, or raises `pifu.model.DocumentError`.
"""
from pifu.model import Document, DocumentError, PifuError

__all__ = ["parse", "parse_bytes", "Document", "DocumentError", "PifuError"]


def parse(path):
    from pifu.api import parse as _parse

    return _parse(path)


def parse_bytes(data: bytes, path: str = "<bytes>"):
    from pifu.api import parse_bytes as _parse_bytes

    return _parse_bytes(data, path)
