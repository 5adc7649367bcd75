"""What the configuration page claims, asserted; python-dotenv is the oracle.

`dotenv_values` reads the same text as our `parse_env`, on a corpus of edge cases
and on generated files, and the two must agree wherever they mean the same. The
differences the page lists are asserted one by one, each with what python-dotenv
does, so that a new python-dotenv that changes one shows up here.
"""

from __future__ import annotations

import io
import logging
import os
import pickle

import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from snippets.reliability.configuration import (
    ConfigError,
    EnvSyntaxError,
    Secret,
    Settings,
    from_environment,
    load_settings,
    parse_env,
)

ENVIRON = {"HOME_DIR": "/home/ada", "EMPTY_VAR": "", "USER": "ada"}

# Cases where both parsers mean the same: each is a whole .env text.
CORPUS = [
    "A=1",
    "A=1\nB=2\n",
    "A=1\r\nB=2\r\n",
    "A=1\rB=2",
    "\ufeffA=bom",
    "# a comment\n\nA=1\n   \n# another",
    "export A=1",
    "export   A=1",
    "exportA=1",
    "export=1",
    "A = spaced around",
    "A=   leading blanks",
    "A=trailing blanks   ",
    "A=",
    "A= ",
    "A",
    "A\nB=2",
    "A= # only a comment",
    "A=#not a comment",
    "A=value # a comment",
    "A=value#not a comment",
    "A=value\t# a tab, then a comment",
    "A=a b c",
    "A=a=b=c",
    "A.B-C=dots and dashes",
    "A='single'",
    "A='single' # comment",
    "A='it\\'s'",
    "A='back\\\\slash'",
    "A='no \\n escape'",
    "A='two\nlines'",
    "A=''",
    'A="double"',
    'A="double" # comment',
    'A=""',
    'A="tab\\there"',
    'A="new\\nline"',
    'A="quote \\" inside"',
    'A="single \\\' inside"',
    'A="back\\\\slash"',
    'A="\\a\\b\\f\\r\\v"',
    'A="unknown \\x escape"',
    'A="a\\\\nb"',
    'A="two\nlines\nhere"',
    "A=\"mixed 'quotes'\"",
    "A='mixed \"quotes\"'",
    "A=${HOME_DIR}",
    "A=${HOME_DIR}/x/${USER}",
    'A="${HOME_DIR} in double"',
    "A=${MISSING}",
    "A=${MISSING:-fallback}",
    "A=${MISSING:-}",
    "A=1\nB=${A}2",
    "A=1\nB=${A:-no}",
    "B=${A}\nA=1",
    "A=$HOME_DIR",
    "A=${HOME_DIR",
    "A=ünïcödé",
    'A="ünïcödé\\n"',
    "A=1\nA=2",
    "USER=file\nB=${USER}",
]


def ours(text: str) -> dict[str, str | None]:
    return parse_env(text, ENVIRON)


def theirs(text: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str | None]:
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    return dict(dotenv_values(stream=io.StringIO(text)))


@pytest.mark.parametrize("text", CORPUS)
def test_agrees_with_python_dotenv_on_the_corpus(text, monkeypatch) -> None:
    assert ours(text) == theirs(text, monkeypatch)


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
PLAIN = st.text(
    st.characters(codec="utf-8", exclude_characters="\\'\"#$\r\n\x00"), max_size=8
)


@st.composite
def lines(draw) -> str:
    name, text = draw(NAMES), draw(PLAIN)
    form = draw(st.sampled_from(["bare", "unquoted", "single", "double", "ref"]))
    prefix = draw(st.sampled_from(["", "export "]))
    if form == "bare":
        return prefix + name
    if form == "unquoted":
        return f"{prefix}{name}={text.strip()}"
    if form == "single":
        return f"{prefix}{name}='{text}'"
    if form == "double":
        escape = draw(st.sampled_from(["", "\\n", "\\t", '\\"', "\\\\", "\\q"]))
        return f'{prefix}{name}="{text}{escape}{text}"'
    default = draw(st.sampled_from(["", ":-x"]))
    return f"{prefix}{name}=${{{draw(NAMES)}{default}}}"


def maybe_empty(files: list[str]) -> set[str]:
    """Names that some line of `files` may leave empty or without a value."""
    names = {"EMPTY_VAR"}
    for line in files:
        name, equals, value = line.removeprefix("export ").partition("=")
        if not equals or value in ("", "''", '""') or value.startswith("${"):
            names.add(name)
    return names


@given(st.lists(lines(), max_size=8), st.sampled_from(["\n", "\r\n"]))
def test_agrees_with_python_dotenv_on_generated_files(files, newline) -> None:
    text = newline.join(files)
    with pytest.MonkeyPatch.context() as monkeypatch:
        expected = theirs(text, monkeypatch)
    got = ours(text)
    # Where they mean different things, by design (see the page): a default
    # (:-) for a name that is set but empty, or listed without "=". Skip those
    # files, and only those.
    if any(f"${{{name}:-" in text for name in maybe_empty(files)):
        return
    assert got == expected


# The differences the page lists, each with what python-dotenv does instead.


def test_single_quotes_are_literal_where_python_dotenv_expands(monkeypatch) -> None:
    text = "A='${HOME_DIR}'"
    assert ours(text) == {"A": "${HOME_DIR}"}  # as sh and Docker Compose do
    assert theirs(text, monkeypatch) == {"A": "/home/ada"}


def test_an_empty_variable_takes_the_default_as_in_posix(monkeypatch) -> None:
    text = "A=${EMPTY_VAR:-fallback}"
    assert ours(text) == {"A": "fallback"}  # POSIX: unset or null
    assert theirs(text, monkeypatch) == {"A": ""}  # only when unset


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('A=1\nB="no closing quote', 'line 2: no closing "'),
        ("A=1\nB='no closing quote", "line 2: no closing '"),
        ('A="value" trailing', "line 1: text after the value"),
        ("'A B'=1", "line 1: expected NAME=value"),
        ("=1", "line 1: expected NAME=value"),
    ],
)
def test_a_line_it_cannot_read_is_an_error_where_python_dotenv_skips_it(
    text, message, monkeypatch, caplog
) -> None:
    with pytest.raises(EnvSyntaxError, match=message):
        ours(text)
    with caplog.at_level(logging.WARNING, logger="dotenv.main"):
        result = theirs(text, monkeypatch)
    if text.startswith("'A B'"):
        assert result == {"A B": "1"}  # python-dotenv reads quoted names
    else:
        assert "could not parse" in caplog.text


# Settings: typed, checked at once, secrets hidden.

GOOD = {"APP_DATABASE_URL": "sqlite:///app.db", "APP_API_KEY": "hunter2-secret"}


def test_settings_are_typed_and_defaults_fill_the_rest() -> None:
    settings = load_settings({**GOOD, "APP_PORT": "8081", "APP_DEBUG": "On"})
    assert settings == Settings(
        "sqlite:///app.db", settings.api_key, port=8081, debug=True
    )
    assert settings.api_key.reveal() == "hunter2-secret"
    assert settings.request_timeout == 5.0


def test_every_problem_is_reported_in_one_error() -> None:
    bad = {
        "APP_API_KEY": "",
        "APP_PORT": "70000",
        "APP_DEBUG": "perhaps",
        "APP_REQUEST_TIMEOUT": "nan",
    }
    with pytest.raises(ConfigError) as raised:
        load_settings(bad)
    assert str(raised.value).splitlines() == [
        "5 configuration errors:",
        "  APP_DATABASE_URL is not set",
        "  APP_API_KEY: is empty",
        "  APP_PORT: 70000 is not a port number (1 to 65535)",
        "  APP_DEBUG: expected true or false, got 'perhaps'",
        "  APP_REQUEST_TIMEOUT: nan is not between 0 and 3600 seconds",
    ]


def test_a_secret_never_shows_in_reprs_logs_or_errors(caplog) -> None:
    settings = load_settings(GOOD)
    logging.getLogger("test").warning("starting with %s and %r", settings, settings)
    shown = [repr(settings), str(settings), f"{settings.api_key}", caplog.text]
    assert all("hunter2" not in text for text in shown)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(settings)


def test_from_environment_lets_the_real_environment_win(tmp_path, monkeypatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "APP_DATABASE_URL=sqlite:///${DATA}/dev.db\nAPP_API_KEY=from-file\n"
        "APP_PORT=8001\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DATA", "/srv")
    monkeypatch.setenv("APP_PORT", "9001")
    monkeypatch.delenv("APP_API_KEY", raising=False)
    settings = from_environment(env_file)
    assert settings.database_url == "sqlite:////srv/dev.db"
    assert settings.port == 9001  # the real environment over the file
    assert settings.api_key.reveal() == "from-file"
    monkeypatch.setenv("APP_API_KEY", "from-env")
    monkeypatch.setenv("APP_DATABASE_URL", "sqlite:///env.db")
    assert from_environment(tmp_path / "missing.env").api_key.reveal() == "from-env"


def test_a_secret_refuses_to_be_empty() -> None:
    with pytest.raises(ValueError, match="is empty"):
        Secret("")
