"""Which files of a build folder are not part of the site: built-in junk plus ``.assetsignore``.

``.assetsignore`` is what ``wrangler deploy`` reads, in gitignore syntax, so a folder that deploys
with wrangler deploys the same files here. Rules are compiled to regular expressions once; the last
rule that matches a path decides (``!`` re-includes), and — as in git — nothing inside an ignored
folder can be re-included, because the walk never enters it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ASSETSIGNORE = ".assetsignore"

# Never sent, whatever .assetsignore says: .sitedeploy/local.json holds a bearer token and .git
# holds history; .assetsignore configures this walk and is no asset (wrangler skips it as well).
ALWAYS_IGNORED = (".git/", ".sitedeploy/", f"/{ASSETSIGNORE}")
# Junk a build folder picks up; a ``!`` rule in .assetsignore may bring these back.
DEFAULT_IGNORED = (".DS_Store", "Thumbs.db", "node_modules/")


@dataclass(frozen=True)
class Rule:
    """One compiled line: ``regex`` matches a relative POSIX path (no leading slash)."""

    pattern: str
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool

    def matches(self, path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        return self.regex.match(path) is not None


def _strip_trailing_spaces(line: str) -> str:
    """gitignore drops trailing spaces unless the last one is escaped with a backslash."""
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        return stripped + " "
    return stripped


def _translate(glob: str) -> str:
    """Translate the glob part of a rule (no leading or trailing slash) to a regex body."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                at_segment_start = i == 0 or glob[i - 1] == "/"
                after = glob[i + 2 : i + 3]
                if at_segment_start and after == "/":  # "**/": zero or more folders
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                if at_segment_start and after == "":  # trailing "/**" (or all of "**"): everything inside
                    out.append(".*")
                    i += 2
                    continue
                i += 1  # any other "**" is two ordinary stars
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 2 if glob[i + 1 : i + 2] in {"!", "^", "]"} else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : end]
                negate = body[:1] in {"!", "^"}
                body = body[1:] if negate else body
                body = "".join("\\" + ch if ch in "\\^[&~|" else ch for ch in body)
                out.append(f"[{'^/' if negate else ''}{body}]")
                i = end
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def compile_rule(line: str) -> Rule | None:
    """A rule for one line of gitignore syntax, or None for blanks and comments."""
    text = _strip_trailing_spaces(line.rstrip("\r\n"))
    if not text or text.startswith("#"):
        return None
    negated = text.startswith("!")
    if negated or text.startswith(("\\!", "\\#")):  # a backslash escapes a literal ! or #
        text = text[1:]
    dir_only = text.endswith("/")
    glob = text.rstrip("/")
    anchored = "/" in glob  # a slash at the start or in the middle ties the rule to the root
    glob = glob.lstrip("/")
    if not glob:
        return None
    prefix = "" if anchored else "(?:.*/)?"
    regex = re.compile(f"^{prefix}{_translate(glob)}$", re.DOTALL)
    return Rule(pattern=line.strip(), regex=regex, negated=negated, dir_only=dir_only)


class IgnoreRules:
    """An ordered rule list; ``ignores`` answers for one path as git would."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self._always = [r for r in map(compile_rule, ALWAYS_IGNORED) if r is not None]
        self._rules = [r for r in map(compile_rule, (*DEFAULT_IGNORED, *lines)) if r is not None]

    @classmethod
    def for_folder(cls, root: Path) -> IgnoreRules:
        """The built-in rules plus ``root/.assetsignore`` when there is one."""
        source = root / ASSETSIGNORE
        lines = source.read_text(encoding="utf-8", errors="replace").splitlines() if source.is_file() else []
        return cls(lines)

    def matches(self, path: str, is_dir: bool) -> bool:
        """Whether the rules exclude ``path`` itself (its folders are not looked at)."""
        if any(rule.matches(path, is_dir) for rule in self._always):
            return True
        ignored = False
        for rule in self._rules:
            if ignored == rule.negated and rule.matches(path, is_dir):
                ignored = not rule.negated
        return ignored

    def ignores(self, path: str, is_dir: bool = False) -> bool:
        """Whether ``path`` is left out, counting the folders it is in (an ignored folder hides all)."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if self.matches("/".join(parts[:depth]), True):
                return True
        return self.matches(path, is_dir)
