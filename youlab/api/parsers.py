"""The API's JSON parser: DRF's, made strict about what would otherwise become a 500.

* DRF reads the body through request.body, where Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE;
  youlab.api.errors answers that with 413 `request_too_large`.
* Invalid UTF-8, NaN/Infinity, over-deep nesting and lone surrogates ("\\ud800", which JSON allows
  but UTF-8 cannot store) are 400 `parse_error`.
* So is an object with the same key twice (`{"text": "a", "text": "b"}`): Python would keep the
  last one silently, while a proxy or log reading the same body may see the first.
"""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils.json import strict_constant


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = get_encoding(parser_context)
        raw = stream.read()
        try:
            data = json.loads(raw.decode(encoding), parse_constant=strict_constant,
                              object_pairs_hook=_unique_keys)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}")
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply")
        _check_strings(data)
        return data


def _unique_keys(pairs):
    data = dict(pairs)
    if len(data) != len(pairs):
        seen = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {duplicate!r} appears twice in one object")
    return data


def _check_strings(data):
    """Refuse strings that cannot be encoded as UTF-8 (lone surrogates), keys included."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ParseError("JSON parse error - a string holds a lone surrogate (not valid Unicode)")
