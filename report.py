"""Reports as a list of blocks, rendered to Markdown and to a self-contained HTML page.

A block is one of: ("h", level, text), ("p", text), ("table", columns, rows), ("img", path, caption),
("code", text). Image paths are relative to the report's folder.
"""

import html
import os

__all__ = ["render_markdown", "render_html", "write_report", "markdown_table"]


def markdown_table(columns, rows):
    """A Markdown table from column names and rows (sequences of cells; floats with 4 significant digits)."""
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(blocks):
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            out.append(block[1])
        elif kind == "table":
            out.append(markdown_table(block[1], block[2]))
        elif kind == "img":
            out.append(f"![{block[2]}]({block[1]})\n\n*{block[2]}*")
        elif kind == "code":
            out.append("```\n" + block[1] + "\n```")
        else:
            raise ValueError(f"unknown report block kind {kind!r}")
    return "\n\n".join(out) + "\n"


def render_html(blocks, title):
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}img{max-width:100%}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in block[1])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(f'{v:.4g}' if isinstance(v, float) else str(v))}</td>"
                                            for v in row) + "</tr>" for row in block[2])
            out.append(f"<table><tr>{head}</tr>{body}</table>")
        elif kind == "img":
            out.append(f"<figure><img src='{html.escape(block[1])}'><figcaption>{html.escape(block[2])}"
                       "</figcaption></figure>")
        elif kind == "code":
            out.append(f"<pre>{html.escape(block[1])}</pre>")
        else:
            raise ValueError(f"unknown report block kind {kind!r}")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(blocks, folder, name="report", title="sphembed report"):
    """Writes <folder>/<name>.md and <folder>/<name>.html; returns the Markdown path."""
    os.makedirs(folder, exist_ok=True)
    md = os.path.join(folder, f"{name}.md")
    with open(md, "w") as fh:
        fh.write(render_markdown(blocks))
    with open(os.path.join(folder, f"{name}.html"), "w") as fh:
        fh.write(render_html(blocks, title))
    return md
