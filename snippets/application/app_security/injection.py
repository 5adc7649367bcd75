"""Injection: data pasted into SQL or HTML is read as code, and how to keep it
data.

What it teaches: the first of the two mistakes behind most web vulnerabilities,
data that crosses into a place where it is read as code. A name pasted into SQL
text lets a `UNION` read another table; the fix sends it as a parameter, and
picks identifiers (the sort column) from an allow-list. A name pasted into HTML
opens elements with event handlers; the fix escapes each value for the context
it lands in: HTML text and quoted attributes (`escape_html`, the same as
`html.escape`), URLs in `href` (a scheme allow-list first), and data for a
script (JSON that cannot close its `<script>` data block). The standard
library's HTML tokenizer shows what a browser makes of each page.

Read first: nothing; this part is plain functions over `sqlite3` and
`html.parser`, with no server. The parts after it build on the app_core page
(`docs/application/app_core.md`, "The application core").

What it leaves out: `escape_html` is not an HTML sanitizer (it makes text inert;
it cannot let users write safe HTML), and JavaScript, CSS and unquoted attribute
contexts get no escaping, only the rule to keep data out of them. The
Content-Security-Policy that limits the damage of a missed escape is in
`mass_assignment_and_headers`. Use your driver's placeholders and your template
engine's escaping in production.

Run it: `python -m snippets.application.app_security.injection`.
"""

# --8<-- [start:sqli]
import sqlite3

SCHEMA = """
CREATE TABLE users (name TEXT, email TEXT);
CREATE TABLE api_keys (owner TEXT, secret TEXT);
INSERT INTO users VALUES
    ('alice', 'alice@example.com'), ('bob', 'bob@example.com');
INSERT INTO api_keys VALUES ('admin', 'sk-live-7f3a9c');
"""


def open_db() -> sqlite3.Connection:
    """An in-memory database with two users and a secret in another table."""
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    return db


def find_users_vulnerable(db: sqlite3.Connection, name: str) -> list[tuple]:
    """VULNERABLE: the name is pasted into the SQL text, so it can change the
    query."""
    query = f"SELECT name, email FROM users WHERE name = '{name}'"
    return db.execute(query).fetchall()


# --8<-- [end:sqli]


# --8<-- [start:sqli_fix]
SORTABLE = {"name": "name", "newest": "rowid DESC"}  # identifiers: allow-listed


def find_users(
    db: sqlite3.Connection, name: str, sort: str = "name"
) -> list[tuple]:
    """FIXED: the name travels as a parameter; the sort key picks from an
    allow-list."""
    order = SORTABLE.get(sort)
    if order is None:
        raise ValueError(f"cannot sort by {sort!r}")
    query = f"SELECT name, email FROM users WHERE name = ? ORDER BY {order}"
    return db.execute(query, (name,)).fetchall()


# --8<-- [end:sqli_fix]


# --8<-- [start:escape]
HTML_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
)


def escape_html(value: str) -> str:
    """Make `value` inert in HTML text or a quoted attribute (same as
    html.escape)."""
    return value.translate(HTML_ESCAPES)


# --8<-- [end:escape]


# --8<-- [start:xss]
from urllib.parse import urlsplit


def profile_page_vulnerable(name: str, website: str) -> str:
    """VULNERABLE: user data pasted into HTML as if it were markup."""
    return f'<h1>{name}</h1><a href="{website}" title="{name}">site</a>'


SAFE_SCHEMES = {"http", "https"}


def safe_url(url: str) -> str:
    """`url` if its scheme is http or https, else a harmless "#"."""
    try:
        # lower-cased, control characters stripped
        scheme = urlsplit(url).scheme
    except ValueError:
        return "#"
    return url if scheme in SAFE_SCHEMES else "#"


def profile_page(name: str, website: str) -> str:
    """FIXED: every value escaped for where it lands; the URL's scheme
    allow-listed."""
    name, href = escape_html(name), escape_html(safe_url(website))
    return f'<h1>{name}</h1><a href="{href}" title="{name}">site</a>'


# --8<-- [end:xss]


# --8<-- [start:tokenize]
from html.parser import HTMLParser


class TagCollector(HTMLParser):
    """Records each start tag with its decoded attributes, as a tokenizer sees
    them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def start_tags(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    """The start tags an HTML tokenizer finds in `markup`, with their
    attributes."""
    collector = TagCollector()
    collector.feed(markup)
    collector.close()
    return collector.tags


# --8<-- [end:tokenize]


# --8<-- [start:js_context]
import json


def json_for_script(value: object) -> str:
    """JSON that cannot end a `<script>` element: no '<', '>' or '&' is left in
    it."""
    # ensure_ascii: U+2028 and U+2029 come out escaped
    encoded = json.dumps(value)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(char, escape)
    return encoded


def settings_script(settings: dict[str, str]) -> str:
    """The page's data as a JSON data block that the page's own script file
    reads."""
    data = json_for_script(settings)
    return f'<script type="application/json" id="settings">{data}</script>'


# --8<-- [end:js_context]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo_sqli]
    import contextlib

    attack = "nobody' UNION SELECT owner, secret FROM api_keys --"
    with contextlib.closing(open_db()) as db:
        print(find_users_vulnerable(db, attack))
        #> [('admin', 'sk-live-7f3a9c')]
        print(find_users(db, attack))
        #> []
        print(find_users(db, "alice"))
        #> [('alice', 'alice@example.com')]
        try:
            find_users_vulnerable(db, "O'Brien")
        except sqlite3.OperationalError as error:
            print("an honest name breaks it too:", error)
            #> an honest name breaks it too: near "Brien": syntax error
    # --8<-- [end:demo_sqli]
    # --8<-- [start:demo_xss]
    name = '"><img src=x onerror=alert(1)>'
    website = "javascript:alert(document.cookie)"
    page = profile_page_vulnerable(name, website)
    print([tag for tag, _ in start_tags(page)])
    #> ['h1', 'img', 'a', 'img']
    print(start_tags(page)[1][1])
    #> {'src': 'x', 'onerror': 'alert(1)'}
    page = profile_page(name, website)
    print([tag for tag, _ in start_tags(page)])
    #> ['h1', 'a']
    print(start_tags(page)[1][1])
    #> {'href': '#', 'title': '"><img src=x onerror=alert(1)>'}
    print(page.partition("<a")[0])
    #> <h1>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</h1>
    # --8<-- [end:demo_xss]
    # --8<-- [start:demo_contexts]
    name = "');alert(1);//"
    button = f"<button onclick=\"greet('{escape_html(name)}')\">hi</button>"
    print(button)
    #> <button onclick="greet('&#x27;);alert(1);//')">hi</button>
    # what the JavaScript engine gets
    print(start_tags(button)[0][1]["onclick"])
    #> greet('');alert(1);//')
    settings = {"theme": "</script><script>alert(1)</script>"}
    naive = f'<script type="application/json">{json.dumps(settings)}</script>'
    print([tag for tag, _ in start_tags(naive)])
    #> ['script', 'script']
    print([tag for tag, _ in start_tags(settings_script(settings))])
    #> ['script']
    print(json_for_script(settings))
    #> {"theme": "\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e"}
    # --8<-- [end:demo_contexts]
