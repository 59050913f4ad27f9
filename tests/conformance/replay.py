"""Replay the conformance corpus recorded from the real Majora against majora-lite.

The corpus (``../shared/majora-conformance/`` beside the repository, or the directories named in
``MAJORA_CONFORMANCE_DIR``) is the specification of majora-lite: each scenario is a list of requests
with the answers the real Majora gave. Its README defines the format, the baseline state, the
normalisation and the comparison rules; this module implements them:

* ``build_baseline`` creates the README's baseline through majora-lite's own admin interface;
* ``Replayer`` sends each step (envelope, auth, placeholders, captures, polling, parallel steps);
* ``normalise`` and ``compare`` turn an answer into a list of differences (empty when it matches).

Run ``make conformance`` (``python tests/conformance/replay.py``) for ``conformance: P/N exchanges
match`` and a compact diff per failing exchange; ``tests/test_conformance.py`` holds it in
``make test``. ``CONFORMANCE_ONLY=p07,p08`` limits a run to some scenarios.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from majora_lite.ops.harness import LiteServer  # noqa: E402

CORPUS_ENV = "MAJORA_CONFORMANCE_DIR"
ONLY_ENV = "CONFORMANCE_ONLY"
DEFAULT_CORPUS = REPO.parent / "shared" / "majora-conformance"
SERVER_DATA = REPO / "majora_lite" / "data"

#: The README's baseline: who exists, with which permissions (all ``majora2.``).
TESTUSER_PERMS = [
    *(
        f"{verb}_{model}"
        for model in (
            "biosampleartifact",
            "biosamplesource",
            "biosourcesamplingprocess",
            "libraryartifact",
            "librarypoolingprocess",
            "dnasequencingprocess",
            "digitalresourceartifact",
            "pagqualityreport",
            "temporaryaccessionrecord",
        )
        for verb in ("add", "change")
    ),
    "force_add_biosampleartifact",
    "temp_can_read_pags_via_api",
    "can_read_dataview_via_api",
    "view_majoraartifact_info",
    "view_biosampleartifact",
    *(
        f"{verb}_{model}"
        for model in ("temporarymajoraartifactmetric", "majorametarecord")
        for verb in ("add", "change", "view", "delete")
    ),
    "can_suppress_pags_via_api",
    "can_wildcard_sequencing_runs",
]
OTHERUSER_PERMS = ["temp_can_read_pags_via_api", "add_biosampleartifact", "change_biosampleartifact"]
NOTOTP_PERMS = ["add_biosampleartifact"]
REDIRECT_URI = "http://127.0.0.1/o/callback/"
#: The scope the recorded authorization codes were granted (p21 echoes it in the token answers).
CODE_SCOPE = "majora2.add_biosampleartifact"
#: The keys Ocarina 1.0.0 adds to every v2 POST body.
ENVELOPE = {"username": "testuser", "token": "oauth", "client_name": "ocarina", "client_version": "1.0.0"}

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
DATE_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:[+-]\d+)?)\}")
TOKEN_KEYS = frozenset({"access_token", "refresh_token", "id_token"})
DATE_WINDOW_DAYS = 800
MISSING = object()


# ---------------------------------------------------------------------------------------- corpus


@dataclass
class Scenario:
    """One recorded scenario: a name, its file and its steps."""

    name: str
    path: Path
    steps: list[dict]


def corpus_dirs() -> list[Path]:
    """The corpus directories: ``MAJORA_CONFORMANCE_DIR`` (os.pathsep-separated) or shared/'s."""
    named = os.environ.get(CORPUS_ENV)
    if named:
        return [Path(p) for p in named.split(os.pathsep) if p]
    return [DEFAULT_CORPUS]


def load_scenarios(dirs: list[Path] | None = None, only: str | None = None) -> list[Scenario]:
    """Every ``*.json`` scenario in ``dirs``, ordered by file name; ``only`` keeps name prefixes."""
    wanted = [w.strip() for w in (only or os.environ.get(ONLY_ENV, "")).split(",") if w.strip()]
    scenarios = []
    for directory in dirs or corpus_dirs():
        for path in sorted(Path(directory).glob("*.json")):
            if wanted and not any(path.stem.startswith(w) for w in wanted):
                continue
            data = json.loads(path.read_text())
            scenarios.append(Scenario(data.get("name", path.stem), path, data["steps"]))
    first = [s for s in scenarios if _order(s) == "first"]
    return first + [s for s in scenarios if _order(s) != "first"]


def _order(scenario: Scenario) -> str | None:
    return json.loads(scenario.path.read_text()).get("order")


def count_exchanges(scenarios: list[Scenario]) -> int:
    """Exchanges in ``scenarios``: a parallel step counts each of its sub-steps."""
    return sum(len(s["parallel"]) if "parallel" in s else 1 for sc in scenarios for s in sc.steps)


# ---------------------------------------------------------------------------------------- baseline


@dataclass
class Baseline:
    """The README's baseline on a running majora-lite: users, the OAuth app and bearer tokens."""

    server: LiteServer
    url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    passwords: dict[str, str]
    bearers: dict[str, str]


def _shipped(kind: str, pattern: str) -> list[str]:
    return sorted(str(p) for p in (SERVER_DATA / kind).glob(pattern) if p.is_file())


def build_baseline(server: LiteServer) -> Baseline:
    """Create the corpus README's baseline through majora-lite's admin interface, then start it."""
    passwords = {name: secrets.token_urlsafe(12) for name in ("testuser", "otheruser", "nototpuser")}

    def user(name: str, perms: list[str], totp: bool) -> dict:
        return {
            "username": name,
            "password": passwords[name],
            "org": "HOOT",
            "perms": [f"majora2.{p}" for p in perms],
            "totp": totp,
        }

    spec: dict[str, Any] = {
        "orgs": True,
        "users": [
            user("testuser", TESTUSER_PERMS, True),
            user("otheruser", OTHERUSER_PERMS, True),
            user("nototpuser", NOTOTP_PERMS, False),
        ],
        "apps": [{"name": "conformance", "redirect_uris": [REDIRECT_URI]}],
        "qc": _shipped("qc", "*/*.qc"),
        "dataviews_files": _shipped("mdv", "*"),
        "tokens": [
            {"username": "testuser"},
            {"username": "otheruser"},
            {"username": "testuser", "scopes": []},
            {"username": "testuser", "expired": True},
        ],
    }
    if spec["dataviews_files"]:
        spec["dataviews"] = [{"username": "testuser", "mdv": "DA1", "days": 30}]
    out = server.setup(spec)
    app = out["apps"][0]
    tokens = [t["access_token"] for t in out["tokens"]]
    server.start()
    return Baseline(
        server=server,
        url=server.url.rstrip("/"),
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        redirect_uri=REDIRECT_URI,
        passwords=passwords,
        bearers={"bearer": tokens[0], "bearer:other": tokens[1], "bearer:noscope": tokens[2],
                 "expired": tokens[3], "bad": "not-a-token-" + secrets.token_hex(8)},
    )


# ---------------------------------------------------------------------------------------- normalise


def relative_date(day: dt.date, today: dt.date) -> str | None:
    """``{today}``/``{today-N}``/``{today+N}`` for a date within the window, else None."""
    delta = (day - today).days
    if abs(delta) > DATE_WINDOW_DAYS:
        return None
    return "{today}" if delta == 0 else f"{{today{delta:+d}}}"


def _normalise_text(text: str, today: dt.date) -> str:
    text = UUID_RE.sub("<uuid>", text)
    text = DATETIME_RE.sub("<timestamp>", text)

    def date(m: re.Match) -> str:
        try:
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return m[0]
        return relative_date(day, today) or m[0]

    return DATE_RE.sub(date, text)


def normalise(value: Any, today: dt.date) -> Any:
    """The README's normalisation: UUIDs, date-times, dates near ``today`` and token values."""
    if isinstance(value, str):
        return _normalise_text(value, today)
    if isinstance(value, list):
        return [normalise(v, today) for v in value]
    if isinstance(value, dict):
        return {
            _normalise_text(k, today): "<token>" if k in TOKEN_KEYS else normalise(v, today)
            for k, v in value.items()
        }
    return value


# ---------------------------------------------------------------------------------------- compare


def _path_str(path: tuple) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def diff(expected: Any, actual: Any, *, subset: bool = False, path: tuple = ()) -> list[str]:
    """Differences between an expected and an answered (normalised) JSON value.

    Whole mode: dictionaries equal regardless of key order, lists equal in order. Subset mode: every
    expected key present with a matching value (extra keys allowed), every expected list item
    matching some answered item.
    """
    where = _path_str(path)
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{where}.{key}: missing (expected {_short(value)})")
            else:
                out += diff(value, actual[key], subset=subset, path=(*path, key))
        if not subset:
            out += [f"{where}.{k}: unexpected key ({_short(actual[k])})" for k in actual if k not in expected]
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if subset:
            return [
                f"{where}: no answered item matches expected item {i} {_short(item)}"
                for i, item in enumerate(expected)
                if not any(not diff(item, got, subset=True) for got in actual)
            ]
        if len(expected) != len(actual):
            return [f"{where}: expected {len(expected)} items, got {len(actual)}: {_short(actual)}"]
        pairs = enumerate(zip(expected, actual, strict=True))
        return [d for i, (e, a) in pairs for d in diff(e, a, path=(*path, i))]
    if type(expected) is not type(actual) or expected != actual:
        return [f"{where}: expected {_short(expected)}, got {_short(actual)}"]
    return []


def lookup(value: Any, dotted: str) -> Any:
    """The value at a dotted JSON path (``tasks.0``, ``task.state``), or ``MISSING``."""
    for part in dotted.split(".") if dotted else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def _drop(value: Any, dotted: str) -> None:
    parent, _, last = dotted.rpartition(".")
    holder = lookup(value, parent)
    if isinstance(holder, dict):
        holder.pop(last, None)


def compare(expect: dict, status: int, text: str, today: dt.date) -> list[str]:
    """All differences between a step's ``expect`` and an answer (status and body text)."""
    problems = []
    if status != expect.get("status"):
        problems.append(f"status: expected {expect.get('status')}, got {status}")
    if expect.get("empty"):
        if text.strip():
            problems.append(f"body: expected empty, got {_short(text)}")
        return problems
    if "json" not in expect:
        return problems
    try:
        answer = normalise(json.loads(text), today)
    except ValueError:
        return [*problems, f"body: expected JSON, got {_short(text[:200])}"]
    expected = json.loads(json.dumps(expect["json"]))
    for dotted in expect.get("ignore", []):
        if lookup(answer, dotted) is MISSING:
            problems.append(f"{_path_str(tuple(dotted.split('.')))}: missing (ignored value, key required)")
        _drop(answer, dotted)
        _drop(expected, dotted)
    problems += diff(expected, answer, subset=expect.get("match") == "subset")
    for rule in expect.get("absent", []):
        if isinstance(rule, str):
            if lookup(answer, rule) is not MISSING:
                problems.append(f"{_path_str(tuple(rule.split('.')))}: must be absent")
            continue
        items = lookup(answer, rule["in"])
        item = normalise(rule["item"], today)
        if isinstance(items, list) and any(not diff(item, got, subset=True) for got in items):
            where = _path_str(tuple(rule["in"].split(".")))
            problems.append(f"{where}: holds an item matching {_short(item)}")
    return problems


# ---------------------------------------------------------------------------------------- replay


@dataclass
class Exchange:
    """The outcome of one recorded exchange."""

    scenario: str
    index: str
    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self, limit: int = 8) -> str:
        lines = [f"{self.scenario} step {self.index} ({self.name}):"]
        lines += [f"    {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"    ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


class Replayer:
    """Sends a scenario's steps to majora-lite as the README describes and compares the answers."""

    def __init__(self, baseline: Baseline, today: dt.date | None = None) -> None:
        self.base = baseline
        self.today = today or dt.datetime.now(dt.UTC).date()
        self.http = requests.Session()

    # -- placeholders

    def _value(self, name: str, scope: dict[str, Any]) -> Any:
        m = re.fullmatch(r"today([+-]\d+)?", name)
        if m:
            return (self.today + dt.timedelta(days=int(m[1] or 0))).isoformat()
        fixed = {
            "client_id": self.base.client_id,
            "client_secret": self.base.client_secret,
            "redirect_uri": self.base.redirect_uri,
        }
        if name in fixed:
            return fixed[name]
        if name in scope:
            return scope[name]
        if name.startswith("code_"):
            scope[name] = self._authorization_code("nototpuser" if "nototp" in name else "testuser")
            return scope[name]
        return MISSING

    def fill(self, value: Any, scope: dict[str, Any]) -> Any:
        """Replace ``{placeholders}`` in strings and keys; a whole-string placeholder keeps its type."""
        if isinstance(value, str):
            whole = PLACEHOLDER_RE.fullmatch(value)
            if whole:
                got = self._value(whole[1], scope)
                return value if got is MISSING else got

            def one(m: re.Match) -> str:
                got = self._value(m[1], scope)
                return m[0] if got is MISSING else str(got)

            return PLACEHOLDER_RE.sub(one, value)
        if isinstance(value, list):
            return [self.fill(v, scope) for v in value]
        if isinstance(value, dict):
            return {self.fill(k, scope): self.fill(v, scope) for k, v in value.items()}
        return value

    def _authorization_code(self, username: str) -> str:
        """A fresh authorization code for ``username``, as a login plus consent issues it."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.base.client_id,
                "redirect_uri": self.base.redirect_uri,
                "scope": CODE_SCOPE,
                "state": secrets.token_urlsafe(8),
            }
        )
        callback = self.base.server.approve(
            f"{self.base.url}/o/authorize/?{query}", username, self.base.passwords[username]
        )
        return parse_qs(urlsplit(callback).query)["code"][0]

    # -- sending

    def _request(self, step: dict, scope: dict[str, Any]) -> requests.Response:
        method = step.get("method", "POST")
        path = self.fill(step["path"], scope)
        headers: dict[str, str] = {}
        kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False, "timeout": 60}
        auth = step.get("auth", "bearer")
        if auth == "client_basic":
            kwargs["auth"] = (self.base.client_id, self.base.client_secret)
        elif auth.startswith("bearer:{"):
            headers["Authorization"] = f"Bearer {self.fill(auth.partition(':')[2], scope)}"
        elif auth != "none":
            headers["Authorization"] = f"Bearer {self.base.bearers[auth]}"
        if "query" in step:
            kwargs["params"] = self.fill(step["query"], scope)
        enveloped = method == "POST" and "/api/v2/" in path and step.get("envelope") is not False
        if "raw" in step:
            kwargs["data"] = self.fill(step["raw"], scope).encode()
            headers["Content-Type"] = "application/json"
        elif "form" in step:
            kwargs["data"] = self.fill(step["form"], scope)
        elif "body" in step or enveloped:
            body = self.fill(step.get("body", {}), scope)
            if enveloped:
                # Ocarina's keys, unless the body has them; a null in the step's envelope removes one.
                for key, value in {**ENVELOPE, **(step.get("envelope") or {})}.items():
                    if value is None:
                        body.pop(key, None)
                    else:
                        body.setdefault(key, value)
            kwargs["data"] = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self.http.request(method, self.base.url + path, **kwargs)

    def _send(self, step: dict, scope: dict[str, Any]) -> requests.Response:
        if step.get("sleep"):
            time.sleep(float(step["sleep"]))
        poll = step.get("poll")
        if not poll:
            return self._request(step, scope)

        def pending(response: requests.Response) -> bool:
            try:
                return lookup(response.json(), poll["path"]) != poll["until"]
            except ValueError:
                return True

        retrying = Retrying(
            retry=retry_if_result(pending),
            stop=stop_after_delay(float(poll.get("timeout", 60))),
            wait=wait_fixed(0.5),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        return retrying(self._request, step, scope)

    def _capture(self, step: dict, response: requests.Response, scope: dict[str, Any]) -> list[str]:
        if "capture" not in step:
            return []
        try:
            answer = response.json()
        except ValueError:
            answer = None
        problems = []
        for var, dotted in step["capture"].items():
            got = lookup(answer, dotted)
            if got is MISSING:
                problems.append(f"capture {var}: no value at {dotted}")
            else:
                scope[var] = got
        return problems

    def _outcome(self, step: dict, response: requests.Response) -> list[str]:
        return compare(step["expect"], response.status_code, response.text, self.today)

    def run(self, scenario: Scenario) -> list[Exchange]:
        """Replay one scenario; one ``Exchange`` per recorded exchange."""
        scope: dict[str, Any] = {}
        results = []
        for number, step in enumerate(scenario.steps, 1):
            if "parallel" in step:
                results += self._run_parallel(scenario, number, step, scope)
                continue
            exchange = Exchange(scenario.path.stem, str(number), step.get("name", ""))
            try:
                response = self._send(step, scope)
            except Exception as exc:  # a step that cannot be sent is a mismatch, not a crash
                exchange.problems.append(f"request failed: {type(exc).__name__}: {exc}")
            else:
                exchange.problems += self._outcome(step, response) + self._capture(step, response, scope)
            results.append(exchange)
        return results

    def _run_parallel(self, scenario: Scenario, number: int, step: dict, scope: dict) -> list[Exchange]:
        subs = step["parallel"]
        with ThreadPoolExecutor(len(subs)) as pool:
            responses = list(pool.map(lambda s: self._send(s, scope), subs))
        exchanges = [
            Exchange(scenario.path.stem, f"{number}.{i}", sub.get("name", step.get("name", "")))
            for i, sub in enumerate(subs, 1)
        ]
        if step.get("expect_any_order"):
            # Match answers to expectations as a multiset: the best assignment wins.
            best: list[list[str]] | None = None
            for order in itertools.permutations(range(len(subs))):
                found = [self._outcome(subs[j], responses[i]) for i, j in enumerate(order)]
                if best is None or sum(map(len, found)) < sum(map(len, best)):
                    best = found
                if not any(found):
                    break
            outcomes = best or []
        else:
            outcomes = [self._outcome(sub, resp) for sub, resp in zip(subs, responses, strict=True)]
        for sub, response, exchange, problems in zip(subs, responses, exchanges, outcomes, strict=True):
            exchange.problems += problems + self._capture(sub, response, scope)
        return exchanges


# ---------------------------------------------------------------------------------------- run


def replay_all(scenarios: list[Scenario], data_dir: Path) -> list[Exchange]:
    """Start majora-lite on a fresh ``data_dir``, build the baseline, replay ``scenarios``."""
    server = LiteServer(data_dir)
    try:
        replayer = Replayer(build_baseline(server))
        return [exchange for scenario in scenarios for exchange in replayer.run(scenario)]
    finally:
        server.stop()


def summary(exchanges: list[Exchange]) -> str:
    """``conformance: P/N exchanges match`` followed by each failing exchange's diff."""
    passed = sum(e.ok for e in exchanges)
    lines = [f"conformance: {passed}/{len(exchanges)} exchanges match"]
    lines += [e.report() for e in exchanges if not e.ok]
    return "\n".join(lines)


def main() -> int:
    """``make conformance``: replay the corpus on a fresh majora-lite and print the summary."""
    dirs = corpus_dirs()
    missing = [d for d in dirs if not d.is_dir()]
    if missing:
        print(
            f"conformance: corpus directory {missing[0]} not found; set {CORPUS_ENV} to the directory "
            "holding the recorded scenarios.",
            file=sys.stderr,
        )
        return 66
    scenarios = load_scenarios(dirs)
    with tempfile.TemporaryDirectory(prefix="majora-conformance-") as tmp:
        exchanges = replay_all(scenarios, Path(tmp))
    print(summary(exchanges))
    return 0 if all(e.ok for e in exchanges) else 1


if __name__ == "__main__":
    sys.exit(main())
