"""MkDocs hooks: what the site makes at build time rather than keeping in two places.

    index.md        the README, its links made to work inside the site
    tutorial.md     docs/tutorial.py run cell by cell: each cell's code, what it printed and
                    the figures it drew (the figures are made by this run, never committed)
    <!-- presets-table -->   in any page: the presets table, from digitnet's PRESETS

The tutorial is a jupytext percent-format script: `# %% [markdown]` starts a text cell
(each line a comment), `# %%` a code cell. Any error in it fails the build, and so does a
failed check inside it: `mkdocs build --strict` in CI is the tutorial's test.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.py"
_cache: dict[str, tuple[str, dict[str, bytes]]] = {}  # `mkdocs serve` reruns only on change


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "index.md", content=readme_page()))
    markdown, figures = tutorial_page()
    files.append(File.generated(config, "tutorial.md", content=markdown))
    for name, png in figures.items():
        files.append(File.generated(config, f"tutorial/{name}", content=png))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- presets-table -->" in markdown:
        from digitnet.cli_help import preset_markdown

        markdown = markdown.replace("<!-- presets-table -->", preset_markdown())
    return markdown


# ---- the home page ----------------------------------------------------------------------

_LINK = re.compile(r"(!?)\[([^\]]*)\]\((?!https?:|#|mailto:)([^)\s]+)\)")


def readme_page() -> str:
    """README.md with links to docs/ pages pointing inside the site, and links to files
    outside docs/ (source files, examples) turned into their plain text."""
    def link(match: re.Match) -> str:
        bang, text, target = match.groups()
        if target == "docs/tutorial.py":  # the script, rendered: the tutorial page
            return f"[{text}](tutorial.md)"
        if target.startswith("docs/"):
            return f"{bang}[{text}]({target[len('docs/'):]})"
        return text if not bang else f"`{target}`"

    return _LINK.sub(link, (ROOT / "README.md").read_text(encoding="utf-8"))


# ---- the tutorial -----------------------------------------------------------------------

def cells(source: str) -> list[tuple[str, str]]:
    """A percent-format script as [(kind, text)]: kind "markdown" or "code"."""
    out: list[tuple[str, str]] = []
    kind, lines = None, []
    for line in source.splitlines():
        if line.startswith("# %%"):
            if kind is not None:
                out.append((kind, "\n".join(lines).strip("\n")))
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
            continue
        if kind == "markdown":
            line = line[2:] if line.startswith("# ") else line.lstrip("#")
        lines.append(line)
    if kind is not None:
        out.append((kind, "\n".join(lines).strip("\n")))
    return out


def tutorial_page() -> tuple[str, dict[str, bytes]]:
    """Run the tutorial; returns its page (Markdown) and its figures {name: PNG bytes}."""
    source = TUTORIAL.read_text(encoding="utf-8")
    key = hashlib.sha256(source.encode()).hexdigest()
    if key not in _cache:
        _cache.clear()
        _cache[key] = run_tutorial(source)
    return _cache[key]


def run_tutorial(source: str) -> tuple[str, dict[str, bytes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__tutorial__"}
    parts, figures = [], {}
    for kind, text in cells(source):
        if kind == "markdown":
            parts.append(text)
            continue
        if not text.strip():
            continue
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(text, str(TUTORIAL), "exec"), namespace)
        parts.append(f"```python\n{text}\n```")
        if printed.getvalue().strip():
            parts.append(f"```text\n{printed.getvalue().rstrip()}\n```")
        for number in plt.get_fignums():
            figure = plt.figure(number)
            name = f"figure-{len(figures) + 1}.png"
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
            figures[name] = buffer.getvalue()
            parts.append(f"![Figure {len(figures)}](tutorial/{name})")
            plt.close(figure)
    return "\n\n".join(parts) + "\n", figures
