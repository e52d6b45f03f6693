"""The `stress …` commands a README prints, as the test suite runs them (see tests/test_readme.py).

Collected from two places:

* every line starting with ``stress `` in a fenced ```` ```sh ```` block (a trailing ``# comment`` is
  dropped);
* every inline code span outside fenced blocks that starts with ``stress `` (or ``.venv/bin/stress ``,
  the same installed script), e.g. ``stress run --workload examples.custom_workload:CouponClaim``.

Notation expanded, so each collected entry is one command a user could type:

* ``a|b|c`` inside one word is one command per alternative (``stress local start|status|stop`` →
  three commands, ``--format jepsen-json|edn`` → two);
* an optional ``[…]`` group is included with its brackets removed (``[--port 8000]`` → ``--port 8000``,
  ``local,moto[,endpoint=URL][,aws]`` → ``local,moto,endpoint=URL,aws``): the README's other forms of
  the same command (without the group) are printed elsewhere and collected from there.

A span that only names a command which the README prints elsewhere with an argument (``stress check``
next to ``stress check reports/<run-id>``) is a reference to that command, not a command of its own.

Placeholders (``reports/<run-id>``, ``RUN_DIR``, ``URL``, …) are left in the text for the test to fill
in; the command text is the test id.
"""

from __future__ import annotations

import itertools
import re
import shlex

FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
OPTIONAL = re.compile(r"\[([^\[\]]*)\]")
COMMENT = re.compile(r"\s+#.*$")
PREFIXES = ("stress ", ".venv/bin/stress ")


def fenced_and_prose(text: str) -> tuple[list[tuple[str, str]], str]:
    """(language, line) for every line of every fenced block, and the text outside the blocks."""
    lines: list[tuple[str, str]] = []
    prose: list[str] = []
    fence: str | None = None
    lang = ""
    for line in text.splitlines():
        stripped = line.strip()
        match = FENCE.match(stripped)
        if fence is None and match:
            fence, lang = match.group(1), match.group(2).lower()
            prose.append("")  # a block ends a paragraph: no inline span runs across it
        elif fence is not None and stripped.startswith(fence) and not stripped.lstrip(fence[0]).strip():
            fence = None
        elif fence is not None:
            lines.append((lang, line))
        else:
            prose.append(line)
    return lines, "\n".join(prose)


def block_commands(text: str) -> list[str]:
    """`stress …` lines of the ```sh blocks, comments stripped, as printed."""
    lines, _ = fenced_and_prose(text)
    return [COMMENT.sub("", line).strip() for lang, line in lines
            if lang in ("sh", "shell", "bash", "console") and line.strip().startswith("stress ")]


def inline_commands(text: str) -> list[str]:
    """Inline code spans (outside fenced blocks) that are `stress …` commands; ``.venv/bin/stress`` → ``stress``."""
    _, prose = fenced_and_prose(text)
    found = []
    for paragraph in re.split(r"\n\s*\n", prose):
        for span in INLINE.findall(paragraph):
            span = " ".join(span.split())  # a span may wrap onto the next line
            for prefix in PREFIXES:
                if span.startswith(prefix):
                    found.append("stress " + span[len(prefix):].strip())
    return found


def expand(command: str) -> list[str]:
    """One command per alternative of every ``a|b`` word, optional ``[…]`` groups included."""
    command = OPTIONAL.sub(lambda m: m.group(1), command)
    words = shlex.split(command)
    choices = [word.split("|") if "|" in word else [word] for word in words]
    return [" ".join(combo) for combo in itertools.product(*choices)]


def is_reference(command: str, commands: list[str]) -> bool:
    """``stress check`` when the README also prints ``stress check <argument> …``: the name of a command."""
    words = command.split()
    if any(word.startswith("-") for word in words):
        return False
    return any(other.split()[:len(words)] == words and len(other.split()) > len(words)
               and not other.split()[len(words)].startswith("-") for other in commands)


def readme_commands(text: str, templates: dict[str, str] | None = None) -> list[str]:
    """Every `stress …` command of the README, expanded, in order of first appearance, without repeats.

    ``templates`` replaces whole words first (``my_pkg.module:MyWorkload`` → the README's own example of
    it), so a template and its printed instance are one command.
    """
    seen: dict[str, None] = {}
    for command in [*block_commands(text), *inline_commands(text)]:
        for one in expand(command):
            one = " ".join((templates or {}).get(word, word) for word in one.split())
            seen.setdefault(one, None)
    return [command for command in seen if not is_reference(command, list(seen))]
