"""Fault-injection rules the WSGI layer applies to matching requests (``--faults``, ``/_lite/faults``)."""

from __future__ import annotations

import threading
from typing import Any

FAULT_ACTIONS = ("delay", "error", "drop", "commit_then_drop", "commit_then_error", "fail_task")


class FaultRuleError(ValueError):
    """A fault rule that cannot be understood."""


def _validate_rule(raw: Any) -> dict:
    if not isinstance(raw, dict):
        raise FaultRuleError("each fault rule must be a JSON object")
    rule = dict(raw)
    action = rule.get("action")
    if action is None:
        action = "delay" if "delay" in rule and "status" not in rule else "error"
    if action not in FAULT_ACTIONS:
        raise FaultRuleError(f"unknown fault action {action!r}; use one of {', '.join(FAULT_ACTIONS)}")
    rule["action"] = action
    path = rule.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/"):
        raise FaultRuleError("fault 'path' must be a string starting with '/' (prefix match)")
    rule["path"] = path
    count = rule.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
        raise FaultRuleError("fault 'count' must be a non-negative integer or null (unlimited)")
    if action in ("error", "commit_then_error"):
        status = rule.setdefault("status", 503 if action == "error" else 502)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultRuleError("fault 'status' must be an HTTP error status (400-599)")
        if rule.setdefault("body", "json") not in ("json", "html", "empty"):
            raise FaultRuleError("fault 'body' must be 'json', 'html' or 'empty'")
    delay = rule.get("delay", 0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= 600:
        raise FaultRuleError("fault 'delay' must be a number of seconds between 0 and 600")
    ra = rule.get("retry_after")
    if ra is not None and (not isinstance(ra, (int, float)) or isinstance(ra, bool) or ra < 0):
        raise FaultRuleError("fault 'retry_after' must be a non-negative number of seconds")
    for key in ("method", "grant_type"):
        if key in rule and rule[key] is not None and not isinstance(rule[key], str):
            raise FaultRuleError(f"fault '{key}' must be a string")
    return rule


class Faults:
    """Fault rules; the first rule matching a request (path prefix, method, grant_type) applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[dict] = []

    def replace(self, rules: Any) -> list[dict]:
        if isinstance(rules, dict):
            rules = rules.get("rules", [rules] if "path" in rules or "action" in rules else [])
        if not isinstance(rules, list):
            raise FaultRuleError('faults must be a JSON list of rules (or {"rules": [...]})')
        parsed = [_validate_rule(r) for r in rules]
        with self._lock:
            self._rules = parsed
        return self.rules()

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def rules(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._rules]

    def take(self, path: str, method: str, grant_type: str | None) -> dict | None:
        """Return (and consume one use of) the first matching rule, or None."""
        with self._lock:
            for rule in self._rules:
                if not path.startswith(rule["path"]):
                    continue
                if rule.get("method") and rule["method"].upper() != method.upper():
                    continue
                if rule.get("grant_type") and rule["grant_type"] != grant_type:
                    continue
                count = rule.get("count")
                if count is not None:
                    if count <= 0:
                        continue
                    rule["count"] = count - 1
                return dict(rule)
        return None


FAULTS = Faults()

