"""The staff UI is translatable (README, "Languages"): every text a member of staff reads on a
staff page is marked for translation with the message context "staff". English is the only
language shipped for them, so scripts/check_translations.py does not ask German or Turkish
for them, but a newly written staff text left unmarked fails here."""

import ast
import re
from pathlib import Path

import pytest
from django.template.loader import get_template

BASE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = BASE_DIR / "templates"
# The staff's pages and partials, and the base page's staff menu.
STAFF_TEMPLATES = sorted(TEMPLATES.glob("staff/*.html")) + [TEMPLATES / "base.html"]
# Texts left as they are, on purpose: (template, text).
ALLOWED = {
    ("base.html", "Clinic"),  # the brand in the menu bar, a name
}

TEMPLATE_TAG = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}")
HIDDEN_TAG = "\x00"
# Attributes a reader hears or sees.
READ_ATTRIBUTES = re.compile(r'\s(?:aria-label|placeholder|title|alt)="([^"]*)"')
LETTER = re.compile(r"[^\W\d_]")
ENTITY = re.compile(r"&#?\w+;")
# Tags whose contents are already translated or never shown.
ENCLOSING = {"blocktranslate", "blocktrans", "comment", "verbatim"}


def hide_template_tags(source: str) -> str:
    """The template with every tag, variable and comment replaced by HIDDEN_TAG characters
    (same length), and the whole of each {% blocktranslate %}…{% endblocktranslate %} (and
    comment, verbatim) too: what is left outside HTML tags is text nobody marked."""
    hidden = list(source)
    opened: tuple[str, int] | None = None
    for match in TEMPLATE_TAG.finditer(source):
        hidden[match.start() : match.end()] = HIDDEN_TAG * (match.end() - match.start())
        words = match.group()[2:-2].split()
        word = words[0] if words else ""
        if opened is None and word in ENCLOSING:
            opened = ("end" + word, match.start())
        elif opened is not None and word == opened[0]:
            start = opened[1]
            hidden[start : match.end()] = HIDDEN_TAG * (match.end() - start)
            opened = None
    return "".join(hidden)


def _readable(text: str) -> bool:
    return bool(LETTER.search(ENTITY.sub("", text)))


def unmarked_texts(source: str) -> list[str]:
    """The texts a reader sees that are not marked for translation: text between HTML tags,
    and the attributes above, ignoring template tags, whitespace, punctuation and numbers."""
    hidden = hide_template_tags(source)
    found = []
    text_start, i = 0, 0
    while i < len(hidden):
        following = hidden[i + 1 : i + 2]
        if hidden[i] != "<" or not (following.isalpha() or following in ("/", "!")):
            i += 1
            continue
        found += [t for t in hidden[text_start:i].split(HIDDEN_TAG) if _readable(t)]
        if hidden.startswith("<!--", i):
            end = hidden.find("-->", i)
            i = len(hidden) if end < 0 else end + 3
        else:
            end, quote = i + 1, None
            while end < len(hidden) and (quote or hidden[end] != ">"):
                if quote and hidden[end] == quote:
                    quote = None
                elif not quote and hidden[end] in "\"'":
                    quote = hidden[end]
                end += 1
            tag = hidden[i : end + 1]
            for value in READ_ATTRIBUTES.findall(tag):
                found += [t for t in value.split(HIDDEN_TAG) if _readable(t)]
            i = end + 1
            name = re.match(r"<(\w+)", tag)
            if name and name.group(1).lower() in ("script", "style"):
                close = hidden.lower().find("</" + name.group(1).lower(), i)
                i = len(hidden) if close < 0 else close
        text_start = i
    found += [t for t in hidden[text_start:].split(HIDDEN_TAG) if _readable(t)]
    return [" ".join(t.split()) for t in found]


@pytest.mark.parametrize("path", STAFF_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_staff_text_is_marked(path):
    name = str(path.relative_to(TEMPLATES))
    unmarked = [t for t in unmarked_texts(path.read_text()) if (name, t) not in ALLOWED]
    assert unmarked == [], (
        f'{name}: mark these with {{% translate "…" context "staff" %}} or '
        '{% blocktranslate context "staff" %}'
    )


@pytest.mark.parametrize("path", STAFF_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_staff_texts_are_in_the_staff_context(path):
    """A staff page's own text in the "staff" set (English only), not the patients' set
    (which must be translated): base.html is the one shared page, its patient menu is not."""
    if path.name == "base.html":
        return
    for tag in re.findall(
        r"{%\s*(?:translate|trans|blocktranslate|blocktrans)\b.*?%}", path.read_text()
    ):
        assert 'context "staff"' in tag, f"{path.name}: {tag}"


@pytest.mark.parametrize("path", STAFF_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_the_marked_templates_compile(path):
    get_template(str(path.relative_to(TEMPLATES)))


# HTML written in Python (rows of the busiest lists, the menu, form markup): the same scan,
# over every string literal with a tag in it, `{…}` placeholders standing for variables.
PYTHON_HTML_APPS = ("accounts", "audit", "consents", "frontdesk", "patients", "portal")
PYTHON_HTML_APPS += ("reminders", "treatments", "ui")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
HTML_TAG = re.compile(r"<[a-zA-Z/!]")
# Literals with a tag that no one reads on a page: (file, text).
PYTHON_ALLOWED = {
    ("reminders/webhooks.py", '<?xml version="1.0" encoding="UTF-8"?>'),  # TwiML, not a page
    (
        "reminders/management/commands/seed_scale.py",  # a command's error, not a page
        "patients). Seed a fresh database instead (the benchmark uses clinic_bench_",
    ),
}


# Calls whose string arguments are messages to translate (a template's msgid may hold HTML).
TRANSLATING = {"gettext", "pgettext", "ngettext", "npgettext", "gettext_lazy", "pgettext_lazy"}


def html_literals(path: Path) -> list[str]:
    """The string literals of a module that hold an HTML tag, docstrings and the messages
    passed to gettext and its kin (marked for translation) left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    messages = {
        id(argument)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) in TRANSLATING
        for argument in node.args
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings | messages
        and HTML_TAG.search(node.value)
    ]


def python_modules():
    for app in PYTHON_HTML_APPS:
        for path in sorted((BASE_DIR / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


@pytest.mark.parametrize("path", list(python_modules()), ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_html_written_in_python_has_no_unmarked_text(path):
    """A word typed into a row's HTML in Python is as unmarked as one in a template: the
    words belong in pgettext("staff", …) (or gettext for a patient's page) passed in."""
    name = str(path.relative_to(BASE_DIR))
    unmarked = []
    for literal in html_literals(path):
        hidden = PLACEHOLDER.sub(lambda m: HIDDEN_TAG * len(m.group()), literal)
        unmarked += [t for t in unmarked_texts(hidden) if (name, t) not in PYTHON_ALLOWED]
    assert unmarked == [], f"{name}: pass these in translated (pgettext / gettext)"


class TestTheScan:
    """The scan finds what it must (it can fail) and leaves alone what it may."""

    def test_finds_a_plain_text_node(self):
        assert unmarked_texts("<p>Hello <b>there</b></p>") == ["Hello", "there"]

    def test_finds_text_beside_a_variable_and_in_an_attribute(self):
        source = '<td>due {{ f.due|date:"j M" }}</td><a aria-label="Select {{ p }}">x</a>'
        assert unmarked_texts(source) == ["due", "Select", "x"]

    def test_leaves_marked_text_tags_punctuation_and_numbers(self):
        source = (
            '{% load i18n %}<h1>{% translate "Hi" context "staff" %}</h1> · 12:30 – '
            '{% blocktranslate with n=x context "staff" %}{{ n }} left{% endblocktranslate %}'
            '<a title="{% translate "T" %}" href="?a=b">&larr;</a>{# note #}'
            "<script>let a = 'text';</script>{% if a == \"word\" %}{% endif %}"
        )
        assert unmarked_texts(source) == []

    def test_finds_text_in_html_written_in_python(self, tmp_path):
        module = tmp_path / "rows.py"
        module.write_text(
            '"""A <tr> per row: docstrings are not read."""\n'
            "ROW = '<tr><td>{name}</td><td>due {day}</td><td>{}</td></tr>'\n"
            "OK = '<span class=\"badge\">{}</span>'\n"
            "MARKED = gettext('<strong>Bring:</strong> a list')\n"
            "CONTEXT = pgettext('staff', '<b>Due</b> {day}')\n"
            "LOOSE = str('<b>Not</b> marked')\n"
        )
        assert html_literals(module) == [
            "<tr><td>{name}</td><td>due {day}</td><td>{}</td></tr>",
            '<span class="badge">{}</span>',
            "<b>Not</b> marked",
        ]
