"""Configuration and secrets: read settings from the environment, check them all
at start-up, and keep secrets out of reprs and logs.

What it teaches: a twelve-factor service takes its configuration from
environment variables, so one build runs anywhere. For development those
variables often live in a `.env` file, whose syntax is a convention rather than
a standard: `parse_env` reads it (comments, `export`, two kinds of quotes,
escapes, values over several lines, `${VAR}` and `${VAR:-default}`) and refuses
a line it cannot read with its line number, where python-dotenv warns and skips
it. `load_settings` turns the variables into typed settings, reports every
missing or malformed one in one error before the service starts, and wraps
secrets in `Secret`, whose repr and str never show the value.

Read first: the graceful shutdown page (`docs/reliability/graceful_shutdown.md`,
"Graceful shutdown"), the other end of a process's life; this module itself
stands alone, like the start-up it describes.

What it leaves out: configuration files in TOML or YAML, reloading settings
while running, secret managers (Vault, a cloud's secret store) and rotation,
and settings nested in sections.

Run it: `python -m snippets.reliability.configuration`.
"""

from __future__ import annotations

# --8<-- [start:lexicon]
import re
from collections.abc import Mapping

Values = dict[str, str | None]  # None: a name listed without "="

_ = r"[^\S\r\n]*"  # blanks: any whitespace that does not end the line
BLANK = re.compile(_ + r"(?:#[^\r\n]*)?(?:\r\n|\n|\r|\Z)")  # empty, comment
HEAD = re.compile(  # [export] NAME, then "=" and the blanks after it, if any
    rf"{_}(?:export[^\S\r\n]+)?(?P<name>[^=#\s'\"]+){_}(?P<eq>={_})?"
)
SINGLE = re.compile(r"'((?:\\.|[^'\\])*)'", re.DOTALL)  # may span lines
DOUBLE = re.compile(r'"((?:\\.|[^"\\])*)"', re.DOTALL)
UNQUOTED = re.compile(r"[^\r\n]*")  # to the end of the line
END = re.compile(_ + r"(?:#[^\r\n]*)?(?:\r\n|\n|\r|\Z)")  # what may follow
VARIABLE = re.compile(r"\$\{(?P<name>[^}:]*)(?::-(?P<default>[^}]*))?\}")
CONTROL = {  # the escapes that stand for control characters
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}


class EnvSyntaxError(ValueError):
    """A line of a .env file whose meaning this parser will not guess."""


# --8<-- [end:lexicon]


# --8<-- [start:values]
def read_value(
    text: str, at: int, equals: str, line: int
) -> tuple[str, bool, int]:
    """The value that starts at `at`, whether it is literal (single-quoted:
    no ${...}), and where it ends."""
    quote = text[at : at + 1]
    if quote in ("'", '"'):
        if not (match := (SINGLE if quote == "'" else DOUBLE).match(text, at)):
            raise EnvSyntaxError(f"line {line}: no closing {quote}")
        if quote == "'":  # only \' and \\ are escapes, as in python-dotenv
            return unescape(match[1], "\\'"), True, match.end()
        return unescape(match[1], "\\'\"abfnrtv"), False, match.end()
    if quote == "#" and equals != "=":  # NAME= # a comment: the value is empty
        return "", False, at
    raw = UNQUOTED.match(text, at)[0]
    # A "#" starts a comment only after whitespace: NAME=a#b keeps "a#b".
    return re.sub(r"\s+#.*", "", raw).rstrip(), False, at + len(raw)


def unescape(raw: str, escapable: str) -> str:
    """Decode backslash escapes of the characters in `escapable`, left to right;
    any other backslash stays as it is."""

    def one(match: re.Match[str]) -> str:
        char = match[1]
        return CONTROL.get(char, char) if char in escapable else match[0]

    return re.sub(r"\\(.)", one, raw, flags=re.DOTALL)


def expand(value: str, values: Values, environ: Mapping[str, str]) -> str:
    """Replace ${NAME} and ${NAME:-default}, as POSIX shells do."""

    def one(match: re.Match[str]) -> str:
        name = match["name"]
        found = values[name] if name in values else environ.get(name)
        return found or match["default"] or ""  # unset or empty: the default

    return VARIABLE.sub(one, value)


# --8<-- [end:values]


# --8<-- [start:parse]
def parse_env(text: str, environ: Mapping[str, str] | None = None) -> Values:
    """The variables a .env text defines, in order; `${VAR}` looks in the file
    first, then in `environ`."""
    values: Values = {}
    at, text = 0, text.removeprefix("\ufeff")
    while at < len(text):
        if blank := BLANK.match(text, at):
            at = blank.end()
            continue
        line = text.count("\n", 0, at) + 1
        if not (head := HEAD.match(text, at)):
            raise EnvSyntaxError(f"line {line}: expected NAME=value")
        value, at = None, head.end()
        if head["eq"] is not None:
            value, literal, at = read_value(text, at, head["eq"], line)
            if not literal:
                value = expand(value, values, environ or {})
        if not (end := END.match(text, at)):
            raise EnvSyntaxError(f"line {line}: text after the value")
        values[head["name"]], at = value, end.end()
    return values


# --8<-- [end:parse]


# --8<-- [start:secret]
class Secret:
    """A value that must not leak: repr and str hide it; `reveal` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("is empty")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__  # f-strings and %-formatting in log lines use these

    def __reduce__(self):
        raise TypeError("a Secret is not pickled, cached or queued")


# --8<-- [end:secret]


# --8<-- [start:converters]
def port(raw: str) -> int:
    number = int(raw)
    if not 0 < number < 65536:
        raise ValueError(f"{number} is not a port number (1 to 65535)")
    return number


def boolean(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def seconds(raw: str) -> float:
    number = float(raw)
    if not 0 < number < 3600:  # also refuses nan and inf
        raise ValueError(f"{raw} is not between 0 and 3600 seconds")
    return number


# --8<-- [end:converters]


# --8<-- [start:settings]
from dataclasses import MISSING, dataclass, fields


@dataclass(frozen=True)
class Settings:
    """The service's configuration; each field is read from APP_<FIELD>."""

    database_url: str
    api_key: Secret
    port: int = 8000
    debug: bool = False
    request_timeout: float = 5.0


READ = {
    "database_url": str,
    "api_key": Secret,
    "port": port,
    "debug": boolean,
    "request_timeout": seconds,
}


class ConfigError(Exception):
    """Every problem with the configuration, found before the service starts."""


def load_settings(environ: Mapping[str, str | None]) -> Settings:
    """Typed settings from `environ`; ConfigError lists every problem."""
    found, problems = {}, []
    for field in fields(Settings):
        name = f"APP_{field.name.upper()}"
        if (raw := environ.get(name)) is None:
            if field.default is MISSING:
                problems.append(f"{name} is not set")
            continue
        try:
            found[field.name] = READ[field.name](raw)
        except ValueError as error:  # the message never quotes a secret
            problems.append(f"{name}: {error}")
    if problems:
        plural = "s" * (len(problems) > 1)
        heading = f"{len(problems)} configuration error{plural}:"
        raise ConfigError("\n  ".join([heading, *problems]))
    return Settings(**found)


# --8<-- [end:settings]


# --8<-- [start:environment]
import os
from pathlib import Path


def from_environment(env_file: str | Path = ".env") -> Settings:
    """Settings from the process environment, over a .env file if there is one:
    a variable set in the real environment wins, as python-dotenv's
    `load_dotenv` leaves it by default."""
    path = Path(env_file)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return load_settings({**parse_env(text, os.environ), **os.environ})


# --8<-- [end:environment]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_parse]
    env_file = r"""
    # local development
    export APP_DATABASE_URL="sqlite:///${DATA_DIR:-/tmp}/app.db"
    APP_PORT=8080   # the port, with a comment
    APP_API_KEY='s3cr3t-${not-expanded}'
    GREETING="line one\nline two"
    EMPTY= # only a comment
    """
    values = parse_env(env_file, environ={})
    print(values["APP_DATABASE_URL"], values["APP_PORT"])
    #> sqlite:////tmp/app.db 8080
    print(values["APP_API_KEY"], values["EMPTY"] == "")
    #> s3cr3t-${not-expanded} True
    print(values["GREETING"].splitlines())
    #> ['line one', 'line two']
    try:
        parse_env('A=1\nB="no closing quote\n')
    except EnvSyntaxError as error:
        print(error)
        #> line 2: no closing "
    # --8<-- [end:demo_parse]

    # --8<-- [start:demo_settings]
    settings = load_settings({**values, "APP_PORT": "9000"})
    print(settings.port, settings.debug, settings.api_key)
    #> 9000 False Secret('********')
    print("s3cr3t" in repr(settings), "s3cr3t" in f"{settings}")
    #> False False
    print(settings.api_key.reveal())
    #> s3cr3t-${not-expanded}
    try:
        load_settings({"APP_PORT": "80a", "APP_DEBUG": "maybe",
                       "APP_API_KEY": "hunter2"})
    except ConfigError as error:
        for line in str(error).splitlines():
            print(line)
            #> 3 configuration errors:
            #>   APP_DATABASE_URL is not set
            #>   APP_PORT: invalid literal for int() with base 10: '80a'
            #>   APP_DEBUG: expected true or false, got 'maybe'
    # --8<-- [end:demo_settings]
