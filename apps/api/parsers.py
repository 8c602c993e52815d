"""Parsers for uploads: multipart as usual, any other body left unread for streaming."""

from __future__ import annotations

from rest_framework.parsers import BaseParser, DataAndFiles, MultiPartParser


class _RawBodyParser(BaseParser):
    """Accepts any media type and reads nothing: the view streams the body itself."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return DataAndFiles({}, {})


RawUploadParser = [MultiPartParser, _RawBodyParser]
