"""Evaluate a Nextflow configuration (``nextflow.config`` and what it includes) without Nextflow.

Nextflow config files are Groovy. This module reads the subset pipelines use: scopes (``params { }``),
dotted assignments (``process.shell = [...]``), process selectors (``withLabel: x { }``,
``withName: 'X' { }``), ``profiles { }``, ``plugins { id 'x@1' }`` and ``includeConfig`` (relative to the
including file, also behind a ternary), with expressions made of literals, strings with ``${...}``,
lists, maps, ternaries, ``?:``, boolean operators, comparisons, ``params.x``, ``projectDir``,
``System.getenv(...)``, memory and duration units (``6.GB``, ``4.h``) and a few string methods.

Closures (``{ 1 * task.attempt }``) are not run: like ``nextflow config`` they are kept as their source
text (:class:`Closure`). Anything else it cannot evaluate becomes :class:`Unevaluated` (its source text);
``strict=True`` turns that into an error instead.

Semantics follow Nextflow's config parser: statements run in file order, a selected profile's block
runs where the ``profiles`` block stands, ``params`` referenced in strings take the value they have at
that point, and an assignment to a scope key replaces the earlier value.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Closure", "ConfigError", "Unevaluated", "load_config", "flatten", "render_value"]


class ConfigError(Exception):
    """A config file this evaluator cannot read (with file and line)."""


@dataclass(frozen=True)
class Closure:
    """A Groovy closure, kept as source text (Nextflow runs it later, per task)."""

    source: str

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class Unevaluated:
    """An expression this evaluator does not compute, kept as source text."""

    source: str

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class Unit:
    """A memory (``6.GB``) or duration (``4.h``) literal, printed as Nextflow prints it."""

    text: str

    def __str__(self) -> str:
        return self.text


# ----------------------------------------------------------------------------------------------------
# Lexer
# ----------------------------------------------------------------------------------------------------

_PUNCT = ["?.", "?:", "==~", "=~", "==", "!=", "<=", ">=", "&&", "||", "..", "<<", "->",
          "=", "?", ":", ",", ".", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "%", "!", "<", ">", ";"]


@dataclass
class Tok:
    kind: str  # name, num, str, gstr, punct, nl, eof
    value: object
    pos: int
    line: int


def _lex(text: str, name: str) -> list[Tok]:
    toks: list[Tok] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            toks.append(Tok("nl", "\n", i, line))
            line += 1
            i += 1
        elif c in " \t\r\\":
            if c == "\\" and text.startswith("\\\n", i):  # line continuation
                line += 1
                i += 2
            else:
                i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ConfigError(f"{name}:{line}: unterminated comment")
            line += text.count("\n", i, j)
            i = j + 2
        elif text.startswith("#!", i) and i == 0:
            j = text.find("\n")
            i = n if j < 0 else j
        elif c in "'\"":
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            j = i + len(quote)
            buf = []
            while True:
                if j >= n:
                    raise ConfigError(f"{name}:{line}: unterminated string")
                if text.startswith(quote, j):
                    break
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j : j + 2])
                    j += 2
                    continue
                if text[j] == "\n" and not triple:
                    raise ConfigError(f"{name}:{line}: unterminated string")
                if c == '"' and text.startswith("${", j):  # keep interpolations whole
                    depth, k = 0, j + 1
                    while k < n:
                        if text[k] == "{":
                            depth += 1
                        elif text[k] == "}":
                            depth -= 1
                            if depth == 0:
                                break
                        k += 1
                    buf.append(text[j : k + 1])
                    j = k + 1
                    continue
                buf.append(text[j])
                j += 1
            raw = "".join(buf)
            toks.append(Tok("gstr" if c == '"' else "str", raw, i, line))
            line += text.count("\n", i, j)
            i = j + len(quote)
        elif c.isdigit():
            m = re.match(r"\d+(\.\d+)?([eE][+-]?\d+)?[LlGgDdFf]?", text[i:])
            lit = m.group(0)  # '6.GB' lexes as 6 '.' GB: a fraction needs a digit after the dot
            value: object = float(lit.rstrip("dDfF")) if ("." in lit or "e" in lit.lower()) else int(lit.rstrip("lLgG"))
            toks.append(Tok("num", value, i, line))
            i += len(lit)
        elif c.isalpha() or c in "_$":
            m = re.match(r"[A-Za-z_$][A-Za-z0-9_$]*", text[i:])
            toks.append(Tok("name", m.group(0), i, line))
            i += len(m.group(0))
        else:
            for p in _PUNCT:
                if text.startswith(p, i):
                    toks.append(Tok("punct", p, i, line))
                    i += len(p)
                    break
            else:
                raise ConfigError(f"{name}:{line}: unexpected character {c!r}")
    toks.append(Tok("eof", None, n, line))
    return toks


# ----------------------------------------------------------------------------------------------------
# Evaluator
# ----------------------------------------------------------------------------------------------------

_UNITS_MEM = {"B", "KB", "MB", "GB", "TB", "PB"}
_UNITS_TIME = {"ms", "s", "m", "h", "d", "min", "sec", "hour", "hours", "day", "days"}


class _Parser:
    def __init__(self, loader: _Loader, path: Path, text: str) -> None:
        self.loader = loader
        self.path = path
        self.text = text
        self.toks = _lex(text, str(path))
        self.i = 0

    # -- token helpers ---------------------------------------------------------------------------
    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def at(self, value: str) -> bool:
        return self.tok.kind == "punct" and self.tok.value == value

    def expect(self, value: str) -> Tok:
        if not self.at(value):
            self.fail(f"expected {value!r}, found {self.tok.value!r}")
        t = self.tok
        self.i += 1
        return t

    def fail(self, msg: str):
        raise ConfigError(f"{self.path}:{self.tok.line}: {msg}")

    def skip_nl(self) -> None:
        while self.tok.kind == "nl" or self.at(";"):
            self.i += 1

    def skip_nl_only(self) -> None:
        while self.tok.kind == "nl":
            self.i += 1

    # -- statements ------------------------------------------------------------------------------
    def block(self, scope: dict, *, until_brace: bool) -> None:
        """Run statements into ``scope`` until '}' (consumed by the caller) or end of file."""
        while True:
            self.skip_nl()
            if self.tok.kind == "eof":
                if until_brace:
                    self.fail("missing '}'")
                return
            if self.at("}"):
                if not until_brace:
                    self.fail("'}' closes nothing")
                return
            self.statement(scope)

    def statement(self, scope: dict) -> None:
        t = self.tok
        if t.kind == "name" and t.value in ("withLabel", "withName") and self.peek().kind == "punct" and self.peek().value == ":":
            self.i += 2
            selector = self.selector()
            self.expect("{")
            sub = scope.setdefault(f"{t.value}:{selector}", {})
            self.block(sub, until_brace=True)
            self.expect("}")
            return
        if t.kind == "name" and t.value == "includeConfig":
            self.i += 1
            target = self.expression(scope)
            if isinstance(target, (str, Path)) and str(target) != "/dev/null":
                inc = Path(str(target))
                inc = inc if inc.is_absolute() else self.path.parent / inc
                self.loader.include(inc)
            elif not isinstance(target, (str, Path)) and self.loader.strict:
                self.fail(f"includeConfig target not computable: {target}")
            return
        if t.kind == "name" and t.value == "profiles" and self.peek().kind == "punct" and self.peek().value == "{":
            self.i += 2
            self.profiles(scope)
            return
        if t.kind == "name" and t.value == "id" and self.peek().kind in ("str", "gstr"):
            self.i += 1  # plugins { id 'name@version' }
            value = self.expression(scope)
            scope.setdefault("__plugins__", []).append(value)
            return
        if t.kind != "name":
            self.fail(f"unexpected {t.value!r}")
        names = self.dotted()
        if self.at("{"):
            self.i += 1
            target = _descend(scope, names)
            self.block(target, until_brace=True)
            self.expect("}")
            return
        if self.at("="):
            self.i += 1
            self.skip_nl_only()
            value = self.expression(scope)
            parent = _descend(scope, names[:-1])
            parent[names[-1]] = value
            return
        self.fail(f"unexpected {self.tok.value!r} after {'.'.join(names)}")

    def selector(self) -> str:
        t = self.tok
        if t.kind in ("str", "gstr", "name"):
            self.i += 1
            return str(t.value)
        self.fail("expected a process selector")
        return ""

    def dotted(self) -> list[str]:
        names = [self.tok.value]
        self.i += 1
        while self.at(".") and self.peek().kind in ("name", "str"):
            self.i += 1
            names.append(str(self.tok.value))
            self.i += 1
        return names

    def profiles(self, scope: dict) -> None:
        while True:
            self.skip_nl()
            if self.at("}"):
                self.i += 1
                return
            if self.tok.kind not in ("name", "str"):
                self.fail("expected a profile name")
            name = str(self.tok.value)
            self.i += 1
            self.expect("{")
            self.loader.profile_names.append(name)
            if name in self.loader.profiles:
                self.block(scope, until_brace=True)
                self.expect("}")
            else:
                self.skip_braced()

    def skip_braced(self) -> None:
        depth = 1
        while depth:
            if self.tok.kind == "eof":
                self.fail("missing '}'")
            if self.at("{"):
                depth += 1
            elif self.at("}"):
                depth -= 1
            self.i += 1

    # -- expressions -----------------------------------------------------------------------------
    def expression(self, scope: dict) -> object:
        start = self.tok.pos
        try:
            value = self.ternary(scope)
        except _NotComputable:
            self.skip_expression()
            value = Unevaluated(self.text[start : self.toks[self.i - 1].pos + len(str(self.toks[self.i - 1].value))].strip())
        if isinstance(value, Unevaluated) and self.loader.strict:
            self.fail(f"cannot evaluate {value.source!r}")
        return value

    def skip_expression(self) -> None:
        depth = 0
        while self.tok.kind != "eof":
            if self.at("(") or self.at("[") or self.at("{"):
                depth += 1
            elif self.at(")") or self.at("]") or self.at("}"):
                if depth == 0:
                    return
                depth -= 1
            elif self.tok.kind == "nl" and depth == 0:
                return
            self.i += 1

    def ternary(self, scope):
        cond = self.binary(scope, 0)
        self.skip_continuation()
        if self.at("?"):
            self.i += 1
            self.skip_nl_only()
            a = self.ternary(scope)
            self.skip_nl_only()
            self.expect(":")
            self.skip_nl_only()
            b = self.ternary(scope)
            return a if _truthy(cond) else b
        if self.at("?:"):
            self.i += 1
            self.skip_nl_only()
            b = self.ternary(scope)
            return cond if _truthy(cond) else b
        return cond

    def skip_continuation(self) -> None:
        """A line starting with '?' or '?:' continues the expression before it (Groovy allows it)."""
        j = self.i
        while self.toks[j].kind == "nl":
            j += 1
        if self.toks[j].kind == "punct" and self.toks[j].value in ("?", "?:"):
            self.i = j

    _PREC = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, ">": 4, "<=": 4, ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}

    def binary(self, scope, min_prec):
        left = self.unary(scope)
        while self.tok.kind == "punct" and self.tok.value in self._PREC and self._PREC[self.tok.value] > min_prec:
            op = self.tok.value
            self.i += 1
            self.skip_nl_only()
            right = self.binary(scope, self._PREC[op])
            left = _apply(op, left, right)
        return left

    def unary(self, scope):
        if self.at("!"):
            self.i += 1
            return not _truthy(self.unary(scope))
        if self.at("-"):
            self.i += 1
            v = self.unary(scope)
            if isinstance(v, (int, float)):
                return -v
            raise _NotComputable
        return self.postfix(scope)

    def postfix(self, scope):
        value = self.primary(scope)
        while True:
            if self.at(".") or self.at("?."):
                safe = self.tok.value == "?."
                self.i += 1
                name = self.tok.value
                self.i += 1
                args = None
                if self.at("("):
                    args = self.arguments(scope)
                if safe and value is None:
                    value = None
                    continue
                value = _member(value, str(name), args)
            elif self.at("["):
                self.i += 1
                key = self.expression(scope)
                self.expect("]")
                try:
                    value = value[key]
                except Exception as err:  # noqa: BLE001 - anything uncomputable
                    raise _NotComputable from err
            else:
                return value

    def arguments(self, scope) -> list:
        self.expect("(")
        args = []
        self.skip_nl_only()
        while not self.at(")"):
            args.append(self.expression(scope))
            self.skip_nl_only()
            if self.at(","):
                self.i += 1
                self.skip_nl_only()
        self.expect(")")
        return args

    def primary(self, scope):
        t = self.tok
        if t.kind == "num":
            self.i += 1
            if self.at(".") and self.peek().kind == "name" and (self.peek().value in _UNITS_MEM or self.peek().value in _UNITS_TIME):
                unit = self.peek().value
                self.i += 2
                return Unit(f"{t.value} {unit}" if unit in _UNITS_MEM else f"{t.value}{unit}")
            return t.value
        if t.kind == "str":
            self.i += 1
            return _unescape(t.value)
        if t.kind == "gstr":
            self.i += 1
            return self.interpolate(t.value, scope)
        if self.at("("):
            self.i += 1
            self.skip_nl_only()
            v = self.expression(scope)
            self.skip_nl_only()
            self.expect(")")
            return v
        if self.at("["):
            return self.list_or_map(scope)
        if self.at("{"):
            start = t.pos
            self.i += 1
            self.skip_braced()
            end = self.toks[self.i - 1].pos + 1
            return Closure(self.text[start:end])
        if t.kind == "name":
            return self.name_expression(scope)
        self.fail(f"unexpected {t.value!r} in expression")
        return None

    def name_expression(self, scope):
        name = self.tok.value
        self.i += 1
        if name in ("true", "false"):
            return name == "true"
        if name == "null":
            return None
        if name == "params":
            return _Params(self.loader.params)
        if name in ("projectDir", "baseDir"):
            return str(self.loader.project_dir)
        if name == "launchDir":
            return str(Path.cwd())
        if name == "System" and self.at(".") and self.peek().value == "getenv":
            self.i += 2
            args = self.arguments(scope)
            return os.environ.get(str(args[0])) if args else None
        if name == "new":
            # `new java.util.Date().format('yyyy-MM-dd_HH-mm-ss')` (nf-core's trace suffix)
            while self.tok.kind == "name" or self.at("."):
                self.i += 1
            if self.at("("):
                self.arguments(scope)
            return _Date()
        if name in scope:
            return scope[name]
        raise _NotComputable

    def list_or_map(self, scope):
        self.expect("[")
        self.skip_nl_only()
        if self.at(":"):
            self.i += 1
            self.expect("]")
            return {}
        items: list = []
        mapping: dict = {}
        is_map = False
        while not self.at("]"):
            if self.tok.kind in ("name", "str", "gstr") and self.peek().kind == "punct" and self.peek().value == ":":
                key = str(self.tok.value)
                self.i += 2
                self.skip_nl_only()
                mapping[key] = self.expression(scope)
                is_map = True
            else:
                items.append(self.expression(scope))
            self.skip_nl_only()
            if self.at(","):
                self.i += 1
                self.skip_nl_only()
        self.expect("]")
        return mapping if is_map else items

    def interpolate(self, raw: str, scope) -> object:
        out = []
        i = 0
        while i < len(raw):
            if raw.startswith("${", i):
                depth, k = 0, i + 1
                while k < len(raw):
                    if raw[k] == "{":
                        depth += 1
                    elif raw[k] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    k += 1
                inner = raw[i + 2 : k]
                sub = _Parser(self.loader, self.path, inner)
                try:
                    value = sub.ternary(scope)
                except (_NotComputable, ConfigError):
                    return Unevaluated('"' + raw + '"')
                out.append(_groovy_str(value))
                i = k + 1
            elif raw[i] == "$" and i + 1 < len(raw) and (raw[i + 1].isalpha() or raw[i + 1] == "_"):
                m = re.match(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", raw[i + 1 :])
                sub = _Parser(self.loader, self.path, m.group(0))
                try:
                    out.append(_groovy_str(sub.ternary(scope)))
                except (_NotComputable, ConfigError):
                    return Unevaluated('"' + raw + '"')
                i += 1 + len(m.group(0))
            elif raw[i] == "\\" and i + 1 < len(raw):
                out.append(_unescape(raw[i : i + 2]))
                i += 2
            else:
                out.append(raw[i])
                i += 1
        return "".join(out)


class _NotComputable(Exception):
    pass


class _Params:
    """``params`` in an expression: ``params.x`` reads the value set so far (missing is null)."""

    def __init__(self, values: dict) -> None:
        self.values = values


class _Date:
    def format(self, fmt: str) -> str:
        py = fmt.replace("yyyy", "%Y").replace("MM", "%m").replace("dd", "%d").replace("HH", "%H")
        py = py.replace("mm", "%M").replace("ss", "%S")
        return _dt.datetime.now().strftime(py)


def _member(value, name: str, args):
    if isinstance(value, _Params):
        if args is not None:
            raise _NotComputable
        return value.values.get(name)
    if isinstance(value, _Date) and name == "format" and args:
        return value.format(str(args[0]))
    if isinstance(value, str) and args is not None:
        methods = {
            "startsWith": lambda a: value.startswith(str(a[0])),
            "endsWith": lambda a: value.endswith(str(a[0])),
            "contains": lambda a: str(a[0]) in value,
            "toLowerCase": lambda a: value.lower(),
            "toUpperCase": lambda a: value.upper(),
            "trim": lambda a: value.strip(),
            "tokenize": lambda a: [x for x in re.split("[" + re.escape(str(a[0]) if a else " \t\n") + "]", value) if x],
        }
        if name in methods:
            return methods[name](args)
    if isinstance(value, dict) and args is None:
        return value.get(name)
    raise _NotComputable


def _apply(op: str, a, b):
    if op == "||":
        return _truthy(a) or _truthy(b)
    if op == "&&":
        return _truthy(a) and _truthy(b)
    if isinstance(a, (Unevaluated, Closure)) or isinstance(b, (Unevaluated, Closure)):
        raise _NotComputable
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    try:
        if op == "+":
            if isinstance(a, str) or isinstance(b, str):
                return _groovy_str(a) + _groovy_str(b)
            return a + b
        return {"-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b, "%": lambda: a % b,
                "<": lambda: a < b, ">": lambda: a > b, "<=": lambda: a <= b, ">=": lambda: a >= b}[op]()
    except TypeError as err:
        raise _NotComputable from err


def _truthy(v) -> bool:
    if isinstance(v, (Unevaluated, Closure)):
        raise _NotComputable
    return bool(v)


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), s)


def _groovy_str(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _descend(scope: dict, names: list[str]) -> dict:
    for n in names:
        nxt = scope.get(n)
        if not isinstance(nxt, dict):
            nxt = {}
            scope[n] = nxt
        scope = nxt
    return scope


class _Loader:
    def __init__(self, project_dir: Path, profiles: list[str], strict: bool) -> None:
        self.project_dir = project_dir
        self.profiles = profiles
        self.profile_names: list[str] = []
        self.strict = strict
        self.root: dict = {}
        self.stack: list[Path] = []

    @property
    def params(self) -> dict:
        return self.root.setdefault("params", {})

    def include(self, path: Path) -> None:
        path = path.resolve()
        if not path.is_file():
            raise ConfigError(f"includeConfig: no such file {path}")
        if path in self.stack:
            raise ConfigError(f"includeConfig: {path} includes itself")
        self.stack.append(path)
        # an included file assigns from the top level, also when included inside a profile
        _Parser(self, path, path.read_text()).block(self.root, until_brace=False)
        self.stack.pop()


def load_config(path: str | os.PathLike, *, profiles: list[str] | tuple[str, ...] = (), strict: bool = False) -> dict:
    """Evaluate ``path`` (and its includes) with ``profiles`` selected; return the nested config.

    Plugins are returned as ``config["plugins"]`` (a list of ``name@version`` strings); the names of all
    profiles the files define as ``config["__profiles__"]``.
    """
    path = Path(path).resolve()
    loader = _Loader(path.parent, list(profiles), strict)
    loader.include(path)
    unknown = [p for p in profiles if p not in loader.profile_names]
    if unknown:
        raise ConfigError(f"unknown profile(s) {', '.join(unknown)}; defined: {', '.join(loader.profile_names)}")
    root = loader.root
    plugins = root.pop("plugins", {})
    root["plugins"] = list(plugins.get("__plugins__", [])) if isinstance(plugins, dict) else []
    root["__profiles__"] = loader.profile_names
    return root


def render_value(v):
    """A config value as plain JSON data (closures and units as Nextflow prints them)."""
    if isinstance(v, dict):
        return {k: render_value(x) for k, x in v.items() if not k.startswith("__")}
    if isinstance(v, list):
        return [render_value(x) for x in v]
    if isinstance(v, (Closure, Unevaluated, Unit)):
        return str(v)
    return v


def flatten(config: dict, prefix: str = "") -> list[tuple[str, object]]:
    """``(dotted.key, value)`` pairs, as ``nextflow config -flat`` lists them."""
    out = []
    for k, v in config.items():
        if k.startswith("__"):
            continue
        key = f"{prefix}{k}" if not prefix else f"{prefix}.{k}"
        if ":" in k or " " in k:
            key = f"{prefix}.'{k}'" if prefix else f"'{k}'"
        if isinstance(v, dict) and v:
            out.extend(flatten(v, key))
        else:
            out.append((key, v))
    return out
