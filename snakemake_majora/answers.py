"""What a Majora v2 answer means: one outcome per answer shape.

Majora answers almost everything with HTTP 200 and an envelope (``errors``, ``warnings``,
``messages``, ``ignored``, ...). The shapes, as recorded from Majora (docs/credentials.md lists the
exit codes and messages):

* ``errors > 0``: the call failed. :func:`answer_error` turns the answer into the one exception that
  says what happened: a missing scope (77), an unknown biosample, artifact, PAG or QC test (66, naming
  it), a client Majora refuses to serve (69), or Majora's own messages, form errors made readable (65).
* ``errors == 0`` with ``warnings``/``ignored``: the call was accepted, but Majora skipped parts of it
  (an unknown metric namespace, a run name it does not know). :func:`answer_notes` gives one line per
  message and per ignored item, for callers to show; :func:`skipped_anything` says whether there were
  any (``put --strict`` fails on them).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import AuthError, MajoraAPIError, MajoraError, NotFoundError, ServerError

SCOPE_MESSAGE = "does not have all of the scopes"
#: What Majora's biosample/get says about an unknown ID (it dereferences the missing record).
NOT_FOUND_MESSAGE = "'NoneType' object has no attribute 'as_struct'"
#: Majora's answer to a request that started an async task (not a warning: the client waits for it).
TASK_MESSAGE = "Call api.majora.task.get with the appropriate task ID later..."
#: Majora refuses old Ocarina versions by client name; snakemake-majora sends its own name.
OUTDATED_CLIENT = ("Update your 'ocarina' client", "you are using 'ocarina'")
#: Keys of the v2 envelope that are not the caller's input (the token may be an API key).
ENVELOPE_KEYS = ("username", "token", "client_name", "client_version")
#: Majora's deployment warns on every biosample add/update without ZANA; it is never the refusal's cause.
ZANA_WARNING = "ZANA has not been enabled"
MAX_SHOWN = 5
MAX_SENT = 400


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_message(m: Any) -> str:
    """One line for one of Majora's messages; Django form errors become ``field, field: message``."""
    if isinstance(m, str):
        return _one_line(m)
    if isinstance(m, dict) and all(isinstance(v, list) for v in m.values()):
        fields_by_text: dict[str, list[str]] = {}
        for field, errs in m.items():
            for e in errs:
                text = e.get("message") if isinstance(e, dict) else e
                fields_by_text.setdefault(_one_line(str(text)), []).append(str(field))
        return "; ".join(f"{', '.join(dict.fromkeys(fields))}: {text}"
                         for text, fields in fields_by_text.items())
    return _one_line(json.dumps(m, sort_keys=True, default=str))


def describe_ignored(item: Any) -> str:
    """An ``ignored`` entry as text: names stay names; pairs such as ``[artifact, artifact_path]`` show
    their non-empty parts."""
    if isinstance(item, list | tuple):
        parts = [str(p) for p in item if p not in (None, "")]
        return " ".join(parts) if parts else "(empty name)"
    return str(item)


def _messages(data: dict[str, Any]) -> list[Any]:
    msgs = data.get("messages") or []
    return list(msgs) if isinstance(msgs, list) else [msgs]


def _ignored(data: dict[str, Any]) -> list[Any]:
    ign = data.get("ignored") or []
    return list(ign) if isinstance(ign, list) else [ign]


def _texts(data: dict[str, Any]) -> list[str]:
    """Majora's messages as lines. Where each message has its own ``ignored`` entry (metric namespaces,
    biosample IDs), form errors are prefixed with that entry so the line says what they belong to."""
    msgs, ign = _messages(data), _ignored(data)
    aligned = len(msgs) == len(ign) and all(isinstance(i, str) for i in ign)
    out = []
    for i, m in enumerate(msgs):
        text = format_message(m)
        if aligned and isinstance(m, dict):
            text = f"{ign[i]}: {text}"
        out.append(text)
    return out


def _shown(items: list[str]) -> str:
    extra = len(items) - MAX_SHOWN
    return "; ".join(items[:MAX_SHOWN]) + (f" (and {extra} more)" if extra > 0 else "")


def sent_summary(body: dict[str, Any] | None) -> str:
    """The caller's request body as compact JSON, without the envelope (which carries the API key in
    key mode), cut to a few hundred characters: enough to spot the malformed value."""
    shown = {k: v for k, v in (body or {}).items() if k not in ENVELOPE_KEYS}
    text = json.dumps(shown, sort_keys=True, default=str)
    return text if len(text) <= MAX_SENT else text[:MAX_SENT] + "...(cut)"


def answer_error(data: dict[str, Any], name: str, body: dict[str, Any]) -> MajoraError:
    """The exception for an answer with ``errors > 0`` to the call ``name`` (e.g. ``api/v2/meta/qc/add``)
    that sent ``body``."""
    # The refusal's cause first: Majora lists its ZANA warning before the form errors.
    texts = sorted(_texts(data), key=lambda t: t.startswith(ZANA_WARNING))
    ignored = _ignored(data)
    short = name.removeprefix("api/v2/")
    if any(SCOPE_MESSAGE in t for t in texts):
        first = next(t for t in texts if SCOPE_MESSAGE in t)
        return AuthError(f"the token lacks a scope for {name}: {first}; add the scopes to the `scopes:` "
                         "setting and run `snakemake-majora login`", messages=texts)
    outdated = next((t for t in texts if any(o in t for o in OUTDATED_CLIENT)), None)
    if outdated:
        return ServerError(f"Majora refused {short} as coming from an outdated Ocarina client ({outdated}); "
                           "snakemake-majora identifies itself by its own name, so something rewrote the "
                           "request's client_name: upgrade snakemake-majora or check proxies in between",
                           messages=texts)
    if any(NOT_FOUND_MESSAGE in t for t in texts):
        return NotFoundError(f"not found on Majora ({short})", messages=texts)
    if "Invalid 'pag_name'" in texts:
        pag = body.get("publish_group") or describe_ignored(ignored[0] if ignored else "?")
        return NotFoundError(f"PAG {pag} not found on Majora ({short}); check the publish group name, "
                             "or register its files first (file/add with publish_group)", messages=texts)
    if "Invalid 'test_name'" in texts:
        return NotFoundError(f"QC test {body.get('test_name')} not found on Majora ({short}); check the "
                             "test name", messages=texts)
    pairs = [i for i in ignored if isinstance(i, list | tuple) and len(i) == 2]
    if not texts and pairs and short.startswith("meta/metric/add"):
        # Majora's metric/add answers an unknown artifact with errors=1, no message, and the pair
        # [artifact, artifact_path] it looked for in `ignored`.
        artifact, path = pairs[0]
        if artifact:
            return NotFoundError(f"artifact {artifact} not found on Majora ({short}); check the name, or "
                                 "register the file first (file/add)", messages=texts)
        return NotFoundError(f"no artifact at path {path} on Majora ({short}); register the file first "
                             "(file/add), or check the path", messages=texts)
    detail = _shown(texts) if texts else f"{data.get('errors')} error(s) and no message"
    if ignored:
        detail += f"; ignored: {_shown([describe_ignored(i) for i in ignored])}"
    return MajoraAPIError(f"Majora refused {short}: {detail}", messages=texts)


def answer_notes(data: dict[str, Any]) -> list[str]:
    """One line per message (other than "call task/get later") and per ignored item of an accepted
    answer, e.g. ``Majora ignored ct`` and ``Majora: 'ct' does not describe a valid metric``."""
    notes = [f"Majora: {t}" for t in _texts(data) if t != TASK_MESSAGE]
    notes += [f"Majora ignored {describe_ignored(i)}" for i in _ignored(data)]
    return notes


def skipped_anything(data: dict[str, Any]) -> bool:
    """True if Majora accepted the call with warnings or ignored items (``put --strict`` fails then)."""
    return bool(data.get("warnings")) or bool(_ignored(data))
