"""Find output quoted by hand in the docs' Markdown (output the site build did not produce).

The scheme, checked on the sources (no build needed):

* A fenced block with ``exec="on"`` (markdown-exec) is produced by the build: always fine.
* Any other fenced block whose language is an **output kind** (:data:`OUTPUT_LANGUAGES`:
  ``text``, ``console``, ``json``, ``output``, no language, ...) is quoted output unless it
  carries a marker class (:data:`MARKERS`), e.g. ```` ```{.json .lesson-input} ```` for a
  request body the learner sends.
* A block of any language that follows a sentence ending in "prints:", "answers:",
  "returns:", "output:" (:data:`LEAD_IN`) is quoted output unless it carries a marker.
* A code block may not hold typed output, marker or not: a shell transcript (a ``$ `` line
  followed by a line of output), a Python session (``>>> `` followed by output), a comment
  that quotes a result (``# -> [0.42]``).
* Prose may not quote output inline: "prints `[0.42]`" (:data:`INLINE`).

Snippet includes (``--8<-- "FILE:section"``) are checked as part of the file they point at.
Fences are found at any indentation (inside tabs and admonitions); an indented code block
without a fence is not recognised (Material's tabs indent content by four spaces too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EXEC_ON", "Fence", "Finding", "INLINE", "LEAD_IN", "MARKERS", "OUTPUT_LANGUAGES",
           "check_markdown", "check_pages", "fences", "parse_info"]

#: fence languages whose content is what a program printed or answered
OUTPUT_LANGUAGES = frozenset({
    "", "text", "txt", "plain", "plaintext", "none", "output", "out", "console", "shell-session",
    "sh-session", "pycon", "json", "jsonc", "jsonl", "ndjson", "log", "ansi", "csv", "tsv", "http",
})

#: marker classes for a block typed by hand on purpose (the class is the marker, the value
#: says when to use it)
MARKERS = {
    "lesson-input": "an example the learner types or sends (a command, a request body, a schema)",
    "lesson-sketch": "a drawing typed by hand (an ASCII diagram), not something a program printed",
}

#: markdown-exec's values for a block that runs at build time
EXEC_ON = frozenset({"on", "1", "true", "yes"})

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "zsh", "console", "shell-session", "sh-session"})
PYTHON_LANGUAGES = frozenset({"python", "py", "python3", "pycon"})

_VERBS = r"prints|printed|outputs?|answers|answered|responds|replies|returns|gives|shows|displays"
#: a lead-in sentence announcing the output that follows ("... this prints:")
LEAD_IN = re.compile(rf"\b(?:{_VERBS}|looks like|you (?:will )?see)\b[^.!?]*:\s*$", re.I)
_FILLER = r"(?:a|an|the|line|lines|that|which|starts?|begins?|with|text|string|value|message|exactly|like|something)"
#: prose that quotes a result inline: "it prints `[0.42]`", "prints a line that starts with `...`"
INLINE = re.compile(rf"\b(?:prints|printed|outputs|answers|answered|responds with|replies|displays)\s+"
                    rf"(?:{_FILLER}\s+){{0,6}}`[^`]+`", re.I)
_RESULT_COMMENT = re.compile(r"#\s*(?:->|=>|→|(?:prints|outputs?|returns|gives)\b:?)\s*[\[{(\"'\d-]")
_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_SNIPPET = re.compile(r"""^\s*-{2}8<-{2}\s+["']([^"':]+)(?::([\w-]+))?["']\s*$""")


@dataclass(frozen=True)
class Fence:
    """One fenced block: where it opens (1-based line), its info string and lines."""

    line: int
    info: str
    body: list[str] = field(repr=False)
    lead_in: str = ""

    @property
    def language(self) -> str:
        return parse_info(self.info)[0]

    @property
    def classes(self) -> tuple[str, ...]:
        return parse_info(self.info)[1]

    @property
    def executed(self) -> bool:
        return parse_info(self.info)[2].get("exec", "").lower() in EXEC_ON

    @property
    def marker(self) -> str | None:
        return next((c for c in self.classes if c in MARKERS), None)


@dataclass(frozen=True)
class Finding:
    """A block or line that quotes output the build did not produce."""

    path: str
    line: int
    problem: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}: {self.excerpt!r}"


def parse_info(info: str) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """A fence's info string -> (language, extra classes, options).

    ``python exec="on" source="above"`` -> ``("python", (), {"exec": "on", "source": "above"})``;
    ``{.json .lesson-input}`` -> ``("json", ("lesson-input",), {})``.
    """
    info = info.strip()
    if info.startswith("{") and info.endswith("}"):
        info = info[1:-1]
        tokens = re.findall(r'[\w.#-]+="[^"]*"|[\w.#-]+=\S+|\S+', info)
        names = [t[1:] for t in tokens if t.startswith(".")]
        language, classes = (names[0], tuple(names[1:])) if names else ("", ())
    else:
        tokens = re.findall(r'[\w-]+="[^"]*"|[\w-]+=\S+|\S+', info)
        language = tokens[0] if tokens and "=" not in tokens[0] else ""
        classes = ()
    options = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep:
            options[key.lstrip(".#")] = value.strip('"')
    return language.lower(), classes, options


def _last_prose_line(lines: list[str], before: int) -> str:
    for line in reversed(lines[:before]):
        if line.strip():
            return line.strip()
    return ""


def fences(text: str) -> Iterator[Fence]:
    """The fenced blocks of a Markdown text, nested ones (a fence inside a longer fence) not split."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if not opening:
            i += 1
            continue
        mark = opening["fence"]
        end = i + 1
        while end < len(lines):
            closing = _OPEN.match(lines[end])
            if (closing and closing["fence"][0] == mark[0] and len(closing["fence"]) >= len(mark)
                    and not closing["info"].strip()):
                break
            end += 1
        indent = len(opening["indent"])
        body = [line[indent:] if line[:indent].isspace() else line.lstrip() for line in lines[i + 1:end]]
        yield Fence(i + 1, opening["info"].strip(), body, _last_prose_line(lines, i))
        i = end + 1


def _typed_output_in_code(fence: Fence) -> str | None:
    """Why a code block holds typed output (a transcript or a result comment), or None."""
    language = fence.language
    prompt = "$ " if language in SHELL_LANGUAGES else ">>> " if language in PYTHON_LANGUAGES else None
    if prompt:
        in_session = False
        for line in fence.body:
            stripped = line.strip()
            if stripped.startswith(prompt.strip()):
                in_session = True
            elif in_session and stripped and not stripped.startswith(("#", "...", ">", "\\")):
                return f"a {language} transcript with output typed after a '{prompt.strip()}' prompt"
    if language not in OUTPUT_LANGUAGES and any(_RESULT_COMMENT.search(line) for line in fence.body):
        return "a comment in the code quotes a result"
    return None


def _prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fences, HTML comments and front matter."""
    lines = text.splitlines()
    skip: set[int] = set()
    for fence in fences(text):
        skip.update(range(fence.line, fence.line + len(fence.body) + 2))
    if lines and lines[0].strip() == "---":
        end = next((n for n, line in enumerate(lines[1:], 2) if line.strip() == "---"), 1)
        skip.update(range(1, end + 1))
    in_comment = False
    for number, line in enumerate(lines, 1):
        if number in skip:
            continue
        if in_comment or "<!--" in line:
            in_comment = "-->" not in line.split("<!--")[-1]
            continue
        yield number, line


def check_markdown(text: str, path: str = "<markdown>") -> list[Finding]:
    """Every place in one Markdown text that quotes output the build did not produce."""
    found = []
    for fence in fences(text):
        first = next((line.strip() for line in fence.body if line.strip()), "")
        if fence.executed:
            continue
        transcript = _typed_output_in_code(fence)
        if transcript:
            found.append(Finding(path, fence.line, transcript, first))
        elif fence.marker:
            continue
        elif fence.language in OUTPUT_LANGUAGES:
            kind = fence.language or "no-language"
            found.append(Finding(path, fence.line, f"a '{kind}' block not produced by the build "
                                 f"(make it exec=\"on\", or mark a hand-typed example with "
                                 f"{' or '.join('.' + m for m in MARKERS)})", first))
        elif fence.language != "mermaid" and LEAD_IN.search(fence.lead_in):
            found.append(Finding(path, fence.line, f"a block announced as output ({fence.lead_in[-40:]!r}) "
                                 "not produced by the build", first))
    for number, line in _prose_lines(text):
        for match in INLINE.finditer(line):
            found.append(Finding(path, number, "prose quotes output inline (print it from an exec block)",
                                 match.group(0)))
    return sorted(found, key=lambda f: f.line)


def _snippet_text(root: Path, target: str, section: str | None) -> tuple[str, int]:
    """The text of a ``--8<--`` include and the line it starts at in its file."""
    lines = (root / target).read_text(encoding="utf-8").splitlines()
    if section is None:
        return "\n".join(lines), 0
    start = next(n for n, line in enumerate(lines) if f"[start:{section}]" in line)
    end = next(n for n, line in enumerate(lines) if f"[end:{section}]" in line)
    return "\n".join(lines[start + 1:end]), start + 1


def check_pages(paths: Iterable[Path], root: Path) -> list[Finding]:
    """Check each page (and the snippets it includes); paths in findings are relative to ``root``."""
    found: list[Finding] = []
    seen: set[tuple[str, str | None]] = set()
    for path in sorted(paths):
        text = path.read_text(encoding="utf-8")
        found += check_markdown(text, path.relative_to(root).as_posix())
        for _, line in _prose_lines(text):
            include = _SNIPPET.match(line)
            if include and (include[1], include[2]) not in seen:
                seen.add((include[1], include[2]))
                snippet, offset = _snippet_text(root, include[1], include[2])
                found += [Finding(f.path, f.line + offset, f.problem, f.excerpt)
                          for f in check_markdown(snippet, include[1])]
    return found
