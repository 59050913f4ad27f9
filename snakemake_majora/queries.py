"""``majora://`` queries: parsing, validation and canonical form.

One canonical form per record kind (documented in docs/plugin.md):

- ``majora://biosample/<central_sample_id>``
- ``majora://sequencing/<run_name>``
- ``majora://sequencing`` (every run: Majora's ``'*'``, which needs ``can_wildcard_sequencing_runs``)
- ``majora://dataview/<MDV_CODE>[.tsv]``
- ``majora://pag/<qc_test_name>[.tsv][?<filter>=<value>&...]``
- ``majora://summary[?gte_date=YYYY-MM-DD]``

Parsing never raises for malformed input: :func:`validate` returns a reason instead, because
Snakemake calls ``is_valid_query`` on every installed plugin for every inferred query. Queries may
still contain Snakemake wildcards (``{sample}``, ``{s,[A-Z]+}``); those are validated as
placeholders and only a concrete query can be :func:`parse`\\ d into a :class:`Query`.

This module is pure (no I/O, no third-party imports) so the discovery shim stays cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl

SCHEME = "majora://"

# Snakemake's wildcard syntax (snakemake_interface_storage_plugins.io.WILDCARD_REGEX), copied so that
# validation does not import the interface package; constraints may nest one level of braces.
_WILDCARD = re.compile(r"\{\s*[.\w]+\s*(?:,(?:[^{}]|\{\d+(?:,\d+)?\})*)?\}")
_PLACEHOLDER = "W1LDCARD"

# Identifiers become file names: no slashes, no leading dot, no "..".
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

KINDS = ("biosample", "sequencing", "dataview", "pag", "summary")
TABLE_KINDS = ("dataview", "pag")

# Majora's pag/qc/get filters (majora-api.md §1.3) and their value types.
PAG_FILTERS: dict[str, str] = {
    "pass": "bool",
    "fail": "bool",
    "public": "bool",
    "private": "bool",
    "service_name": "ident",
    "published_after": "date",
    "published_before": "date",
    "suppressed_after": "date",
    "mode": "mode",
}
PAG_MODES = ("pagfiles", "ena-assembly")
SUMMARY_FILTERS: dict[str, str] = {"gte_date": "date"}
#: The local copy's stem for ``majora://sequencing`` (every run); not a valid run name (see _IDENT).
ALL_RUNS = "_all"

VALID_FORMS = (
    "majora://biosample/<central_sample_id>, "
    "majora://sequencing/<run_name>, "
    "majora://sequencing (every run), "
    "majora://dataview/<MDV_CODE>[.tsv], "
    "majora://pag/<qc_test_name>[.tsv][?pass=true&published_after=YYYY-MM-DD...] "
    f"(filters: {', '.join(PAG_FILTERS)}), "
    "majora://summary[?gte_date=YYYY-MM-DD]"
)


class QueryError(ValueError):
    """A query that is not one of the valid forms; the message says why and lists the forms."""


@dataclass(frozen=True)
class Query:
    """A parsed, concrete ``majora://`` query."""

    kind: str
    key: str = ""  # sample id, run name, MDV code or QC test name; "" for summary and every run
    params: tuple[tuple[str, str], ...] = ()  # canonical (sorted, normalised) filters
    table: bool = False  # ".tsv" suffix: write a table instead of JSON

    @property
    def canonical(self) -> str:
        """The one canonical spelling of this query."""
        path = self.kind + (f"/{self.key}" if self.key else "") + (".tsv" if self.table else "")
        qs = "&".join(f"{k}={v}" for k, v in self.params)
        return SCHEME + path + (f"?{qs}" if qs else "")

    @property
    def local_suffix(self) -> str:
        """Relative path of the local copy; unique per canonical query and safe as a file name."""
        ext = ".tsv" if self.table else ".json"
        if self.kind == "sequencing" and not self.key:
            # A run name starts with a letter or digit, so no run's copy can be named "_all".
            return f"sequencing/{ALL_RUNS}{ext}"
        if self.kind in ("biosample", "sequencing", "dataview"):
            return f"{self.kind}/{self.key}{ext}"
        stem = ",".join(f"{k}={v}" for k, v in self.params) or "all"
        if self.kind == "pag":
            return f"pag/{self.key}/{stem}{ext}"
        return f"summary/{stem}{ext}"

    def param(self, name: str) -> str | None:
        """The value of filter ``name``, or None if not given."""
        return dict(self.params).get(name)


def has_wildcards(query: str) -> bool:
    """True if ``query`` still contains Snakemake wildcards."""
    return bool(_WILDCARD.search(query))


def _check_value(kind: str, name: str, value: str, placeholders: bool = False) -> str:
    """Normalise one filter value or raise QueryError.

    A value holding a wildcard placeholder cannot be checked against its type yet, but it becomes part
    of a file name, so even then only identifier characters are tolerated. A concrete query never gets
    that leniency: ``W1LDCARD/../..`` typed literally is just a bad value (issue 12, item 2).
    """
    if placeholders and _PLACEHOLDER in value:
        if not _IDENT.fullmatch(value):
            raise QueryError(f"filter {name}={value!r} has characters other than letters, digits, '._+-'")
        return value
    if kind == "bool":
        low = value.lower()
        if low not in ("true", "false"):
            raise QueryError(f"filter {name}={value!r} must be true or false")
        return low
    if kind == "date":
        if not _DATE.fullmatch(value):
            raise QueryError(f"filter {name}={value!r} must be a date YYYY-MM-DD")
        try:
            date.fromisoformat(value)
        except ValueError:
            raise QueryError(f"filter {name}={value!r} is not a real date") from None
        return value
    if kind == "mode":
        if value not in PAG_MODES:
            raise QueryError(f"filter mode={value!r} must be one of {', '.join(PAG_MODES)}")
        return value
    if not _IDENT.fullmatch(value):
        raise QueryError(f"filter {name}={value!r} has characters other than letters, digits, '._+-'")
    return value


def _parse_params(qs: str, allowed: dict[str, str], kind: str,
                  placeholders: bool = False) -> tuple[tuple[str, str], ...]:
    if not qs:
        return ()
    if not allowed:
        raise QueryError(f"{kind} queries take no filters")
    seen: dict[str, str] = {}
    for name, value in parse_qsl(qs, keep_blank_values=True, strict_parsing=False):
        if name not in allowed:
            raise QueryError(f"unknown {kind} filter {name!r} (valid: {', '.join(allowed)})")
        if name in seen:
            raise QueryError(f"filter {name!r} given twice")
        if value == "":
            raise QueryError(f"filter {name!r} has no value")
        seen[name] = _check_value(allowed[name], name, value, placeholders)
    if "&" in qs and not all(part and "=" in part for part in qs.split("&")):
        raise QueryError(f"malformed filters {qs!r} (expected name=value&name=value)")
    return tuple(sorted(seen.items()))


def _parse(query: str, placeholders: bool = False) -> Query:
    """Parse a query; with ``placeholders``, its wildcards have been replaced by placeholders."""
    if not isinstance(query, str) or not query.startswith(SCHEME):
        raise QueryError("not a majora:// query")
    rest = query[len(SCHEME) :]
    path, _, qs = rest.partition("?")
    kind, _, key = path.partition("/")
    if kind not in KINDS:
        raise QueryError(f"unknown record kind {kind!r}")
    table = False
    if path.endswith(".json"):
        raise QueryError("drop the '.json' suffix: JSON is the default")
    if path.endswith(".tsv"):
        if kind not in TABLE_KINDS:
            raise QueryError(f"a '.tsv' table is only available for {' and '.join(TABLE_KINDS)}")
        key, table = key.removesuffix(".tsv"), True
    if kind == "summary":
        if key:
            raise QueryError("summary takes no path, only ?gte_date=YYYY-MM-DD")
        return Query("summary", "", _parse_params(qs, SUMMARY_FILTERS, kind, placeholders))
    if kind == "sequencing" and path == "sequencing":
        # Every run (Majora's run_name ["*"]): no run name can be empty, so this form collides with none.
        if qs:
            raise QueryError("majora://sequencing (every run) takes no filters")
        return Query("sequencing")
    if not key:
        every = " (majora://sequencing alone lists every run)" if kind == "sequencing" else ""
        raise QueryError(f"missing the {kind} identifier{every}")
    if not _IDENT.fullmatch(key):
        raise QueryError(f"{kind} identifier {key!r} must be letters, digits and '._+-', without '/'")
    params = _parse_params(qs, PAG_FILTERS if kind == "pag" else {}, kind, placeholders)
    return Query(kind, key, params, table)


def validate(query: str) -> str | None:
    """Return None if ``query`` (wildcards allowed) is valid, else a one-line reason. Never raises."""
    try:
        if not isinstance(query, str):
            return "query must be a string"
        wild = has_wildcards(query)
        _parse(_WILDCARD.sub(_PLACEHOLDER, query) if wild else query, placeholders=wild)
    except QueryError as e:
        return f"{e}; valid forms: {VALID_FORMS}"
    except Exception as e:  # never let a plugin check break Snakemake's provider inference
        return f"cannot parse query ({type(e).__name__}); valid forms: {VALID_FORMS}"
    return None


def is_majora(query: object) -> bool:
    """True if the query claims the majora:// scheme (so errors should be ours, not another plugin's)."""
    return isinstance(query, str) and query.startswith(SCHEME)


def parse(query: str) -> Query:
    """Parse a concrete query (no wildcards) into a :class:`Query`; raise QueryError if invalid."""
    if has_wildcards(query):
        raise QueryError(f"query {query!r} still has wildcards")
    try:
        return _parse(query)
    except QueryError as e:
        raise QueryError(f"invalid query {query!r}: {e}; valid forms: {VALID_FORMS}") from None


def canonicalise(query: str) -> str:
    """Canonical spelling of a valid query; wildcard queries and invalid ones are returned unchanged."""
    if has_wildcards(query):
        return query
    try:
        return _parse(query).canonical
    except QueryError:
        return query


def pattern_suffix(query: str) -> str:
    """Local suffix for a query that may contain wildcards (the wildcards stay in the suffix)."""
    found: list[str] = []

    def hold(m: re.Match[str]) -> str:
        found.append(m.group(0))
        return f"{_PLACEHOLDER}{len(found) - 1}X"

    try:
        suffix = _parse(_WILDCARD.sub(hold, query), placeholders=True).local_suffix
    except Exception:
        # Invalid queries are rejected by Snakemake via is_valid_query; keep a harmless unique name.
        return "invalid/" + re.sub(r"[^A-Za-z0-9._-]+", "_", str(query))
    for i, text in enumerate(found):
        suffix = suffix.replace(f"{_PLACEHOLDER}{i}X", text)
    return suffix
