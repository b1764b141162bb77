"""UNSET: a keyword argument left out of a service call, i.e. "leave it as it is" (None may be a
value: `char_limit=None` means no limit)."""


class _Unset:
    def __repr__(self):
        return "UNSET"


UNSET = _Unset()
