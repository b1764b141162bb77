"""Querysets whose SQL is built once, then run with new values: the same statement and the same
model instances as iterating the queryset, without rebuilding it on every call.

Building and compiling a queryset costs more than the query itself on the hottest reads (a
block by owner and label: 0.35 ms of Python against 0.3 ms on the wire, bench/profile_api.py).
`PreparedQuery` asks Django for the SQL once per database connection, with a placeholder for
each value, and then only swaps the values in. It is a faster way to run a queryset the caller
wrote, not a second way to query: a shape it cannot prepare exactly (values the field would
convert, select_related, annotations, values(), prefetching, an empty `IN`) is simply iterated
as a queryset, every time.
"""

from __future__ import annotations

import inspect
import uuid
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple
    positions: tuple[int, ...]  # where each value goes in params
    field_names: tuple[str, ...]  # the model's attnames, in column order (Model.from_db)
    converters: tuple  # (column, converters, expression): from_db_value and the backend's


_UNPREPARABLE = object()
_UUID_PLACEHOLDER = 0x796F756C61625F707265706172656400  # b"youlab_prepared", then the argument's number


class PreparedQuery:
    """`build(*values)` returns the queryset for those values (strings compared with `=` and
    friends, or UUIDs: `uuid_args`); `instances(*values)` returns what `list(build(*values))` would, and
    `instances(*values, limit=n)` what `list(build(*values)[:n])` would (a list's first page).

    Plans are kept per connection object (one per thread and database alias), so converters
    bound to a connection are never shared between threads; each limit has its own plan (the
    number is part of the statement), for limits up to MAX_LIMIT.
    """

    MAX_LIMIT = 1000

    def __init__(self, build: Callable[..., QuerySet], *, uuid_args: Collection[str] = ()):
        """`uuid_args` names the arguments compared with a UUIDField (a primary key, say): they
        take a UUID or its text, which goes into the statement as the field stores it."""
        self._build = build
        names = list(inspect.signature(build).parameters)
        self._arity = len(names)
        self._uuid_positions = frozenset(names.index(name) for name in uuid_args)
        self._plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._model: type[Model] | None = None
        self._never = False  # the shape cannot be built with placeholders (a field refused one)

    def instances(self, *values, limit: int | None = None) -> list[Model]:
        plannable_limit = limit is None or (type(limit) is int and 0 < limit <= self.MAX_LIMIT)
        swapped = self._as_params(values) if not self._never and plannable_limit else None
        if swapped is None:
            # The queryset converts (or refuses) other values and slices (or refuses) other limits.
            return list(self._sliced(self._build(*values), limit))
        model = self._model or self._learn_model()
        if model is None:
            return list(self._sliced(self._build(*values), limit))
        alias = router.db_for_read(model)
        connection = connections[alias]
        plans = self._plans.get(connection)
        if plans is None:
            plans = self._plans[connection] = {}
        plan = plans.get(limit)
        if plan is None:
            plan = plans[limit] = self._prepare(alias, limit)
        if plan is _UNPREPARABLE:
            return list(self._sliced(self._build(*values).using(alias), limit))
        params = list(plan.params)
        for position, value in zip(plan.positions, swapped):
            params[position] = value
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        found = []
        for row in rows:
            if plan.converters:
                row = list(row)
                for column, converters, expression in plan.converters:
                    value = row[column]
                    for converter in converters:
                        value = converter(value, expression, connection)
                    row[column] = value
            found.append(model.from_db(alias, plan.field_names, row))
        return found

    def first(self, *values: str) -> Model | None:
        found = self.instances(*values)
        return found[0] if found else None

    def _as_params(self, values) -> tuple | None:
        """The values as the statement takes them, or None when only the queryset can convert
        them (a number, None, text that is not a UUID where one is expected)."""
        if len(values) != self._arity:
            return None
        params = []
        for n, value in enumerate(values):
            if n in self._uuid_positions:
                if isinstance(value, str):
                    try:
                        value = uuid.UUID(value)  # as UUIDField.to_python reads text
                    except ValueError:
                        return None
                if not isinstance(value, uuid.UUID):
                    return None
                params.append(value.hex)
            elif isinstance(value, str):
                # The characters, as the database gets them (a TextChoices member is a str too).
                params.append(str.__str__(value))
            else:
                return None
        return tuple(params)

    @staticmethod
    def _sliced(queryset: QuerySet, limit: int | None) -> QuerySet:
        return queryset if limit is None else queryset[:limit]

    def _placeholders(self) -> tuple:
        # Values no caller sends (NUL is not allowed in identifiers), each one distinct, with the
        # characters a lookup would escape (`iexact` escapes % and _ for LIKE): such a lookup
        # changes its placeholder, so the shape is not prepared. A UUID argument's placeholder
        # is a fixed UUID that spells "youlab_prepared".
        return tuple(
            uuid.UUID(int=_UUID_PLACEHOLDER + n) if n in self._uuid_positions
            else f"\x00youlab_prepared%{n}\\\x00"
            for n in range(self._arity)
        )

    def _learn_model(self) -> type[Model] | None:
        try:
            self._model = self._build(*self._placeholders()).model
        except (ValidationError, ValueError, TypeError):  # a field refused the placeholder
            self._never = True
        return self._model

    def _prepare(self, alias: str, limit: int | None) -> _Plan | object:
        placeholders = self._placeholders()
        queryset = self._sliced(self._build(*placeholders).using(alias), limit)
        query = queryset.query
        if (
            queryset._iterable_class is not ModelIterable
            or queryset._prefetch_related_lookups
            or queryset._known_related_objects
            or query.select_related
            or query.annotation_select
            or query.extra_select
            or query.combinator
        ):
            return _UNPREPARABLE
        compiler = query.get_compiler(using=alias)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return _UNPREPARABLE
        params = tuple(params)
        positions = []
        for placeholder in self._as_params(placeholders):
            # Each value must reach the statement as _as_params makes it, and once (a lookup
            # that transforms it, `icontains` say, or uses it twice, cannot be swapped in).
            found = [n for n, param in enumerate(params) if param == placeholder]
            if len(found) != 1 or placeholder in sql:
                return _UNPREPARABLE
            positions.append(found[0])
        klass_info = compiler.klass_info
        select_fields = klass_info["select_fields"]
        if klass_info["model"] is not queryset.model or len(compiler.select) != len(select_fields):
            return _UNPREPARABLE
        columns = compiler.select[select_fields[0]:select_fields[-1] + 1]
        converters = compiler.get_converters([column[0] for column in columns])
        return _Plan(
            sql=sql,
            params=params,
            positions=tuple(positions),
            field_names=tuple(column[0].target.attname for column in columns),
            converters=tuple((column, funcs, expression) for column, (funcs, expression) in converters.items()),
        )

