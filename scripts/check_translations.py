#!/usr/bin/env python
"""Fail when a shipped language is missing a translation (README, "Languages").

Runs `makemessages` for every shipped language on a throw-away copy of the sources, so the
.po files in git are never touched, and fails when, after the merge, any message is
untranslated or fuzzy (a string marked in the code that the .po files do not have yet, one
whose English changed, or one nobody translated) or when the shipped .po still carries
messages the sources no longer have (obsolete, "#~"). Exit 0 when all is translated.

The staff's own strings (message context "staff": `{% translate "…" context "staff" %}`,
`pgettext_lazy("staff", …)`) form a set of their own that ships in English only, so they may
stay untranslated (or be matched fuzzily by makemessages to a similar text) in every language;
they must still be in the .po files no later than the sources (no obsolete ones). Every other
message is checked strictly.

    check_translations.py            check the project
    check_translations.py FILE.po    check only these .po files as they are (no makemessages)
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# The languages shipped besides English (the source language): settings.LANGUAGES.
SHIPPED = ("de", "tr")
# Not the project's sources: never scanned for strings.
NOT_SOURCES = (
    ".git",
    ".venv",
    ".*_cache",
    ".run",
    "node_modules",
    "build",
    "media",
    "staticfiles",
    "*.sqlite3",
)
IGNORE = ["tests/*", "bench/*", "static/*"]
# The message context of the staff's strings: English only, no translation required.
ENGLISH_ONLY_CONTEXT = "staff"


def _entries(po: Path, *options: str) -> list[str]:
    """The messages msgattrib selects with `options` (gettext's own reading of the file), each
    as its msgid, or "context|msgid" where it has a message context."""
    # gettext's msgattrib from the PATH (as Django's own commands run msgfmt), on our files.
    out = subprocess.run(  # noqa: S603
        ["msgattrib", "--no-wrap", *options, str(po)],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    msgids = []
    context = None
    for line in out.splitlines():
        if line.startswith(("msgctxt ", "#~ msgctxt ")):
            context = line.split("msgctxt ", 1)[1].strip()[1:-1]
        elif line.startswith(("msgid ", "#~ msgid ")):
            msgid = line.split("msgid ", 1)[1].strip()[1:-1]
            if msgid:  # the header's msgid is ""
                msgids.append(msgid if context is None else f"{context}|{msgid}")
            context = None
    return msgids


def _to_translate(msgids: list[str]) -> list[str]:
    """The messages a shipped language must translate: all but the English-only staff ones."""
    return [m for m in msgids if not m.startswith(f"{ENGLISH_ONLY_CONTEXT}|")]


def problems(po: Path) -> list[str]:
    """What is wrong with one .po file: untranslated, fuzzy and obsolete messages (a staff
    message may be untranslated or fuzzy)."""
    untranslated = _to_translate(_entries(po, "--untranslated", "--no-obsolete"))
    found = [f"{po}: untranslated: {m}" for m in untranslated]
    fuzzy = _to_translate(_entries(po, "--only-fuzzy", "--no-obsolete"))
    found += [f"{po}: fuzzy: {m}" for m in fuzzy]
    found += [
        f"{po}: no longer in the sources (obsolete): {m}" for m in _entries(po, "--only-obsolete")
    ]
    return found


def merged_copy(workdir: Path) -> Path:
    """The sources copied to `workdir` with their .po files merged by makemessages."""
    copy = workdir / "src"
    shutil.copytree(BASE_DIR, copy, ignore=shutil.ignore_patterns(*NOT_SOURCES, "*.mo"))
    command = [sys.executable, "manage.py", "makemessages", "--no-obsolete"]
    for language in SHIPPED:
        command += ["-l", language]
    for pattern in IGNORE:
        command += ["--ignore", pattern]
    # --no-obsolete above drops messages gone from the sources from the merged copy: compare
    # the shipped files' msgids with the merged ones to report them.
    subprocess.run(  # noqa: S603 (this Python, manage.py of the copy)
        command,
        cwd=copy,
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "DEBUG": "1"},
    )
    return copy


def check_project() -> list[str]:
    found = []
    with tempfile.TemporaryDirectory(prefix="check-translations-") as tmp:
        copy = merged_copy(Path(tmp))
        for language in SHIPPED:
            relative = Path("locale") / language / "LC_MESSAGES" / "django.po"
            shipped, merged = BASE_DIR / relative, copy / relative
            if not shipped.exists():
                found.append(f"{relative}: missing (run makemessages -l {language})")
                continue
            found += [p.replace(str(merged), str(relative)) for p in problems(merged)]
            gone = set(_entries(shipped, "--no-obsolete")) - set(_entries(merged))
            found += [f"{relative}: no longer in the sources: {m}" for m in sorted(gone)]
            found += [p for p in problems(shipped) if "obsolete" in p]
    return found


def main(argv: list[str]) -> int:
    if argv:
        found = [p for path in argv for p in problems(Path(path))]
    else:
        found = check_project()
    for problem in found:
        print(problem)
    if found:
        print(
            f"{len(found)} translation problem(s). Run `python manage.py makemessages "
            + " ".join(f"-l {language}" for language in SHIPPED)
            + "`, translate every empty or fuzzy msgstr, and commit the .po files "
            "(README.md, Languages).",
            file=sys.stderr,
        )
        return 1
    print(f"Translations complete: {', '.join(SHIPPED)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
