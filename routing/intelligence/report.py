"""The evaluation of a trained model as Markdown and a confusion-matrix picture (SVG, no plotting library)."""

from __future__ import annotations

from html import escape

from routing.intelligence import model as topic_model


def confusion_svg(labels: list[str], matrix: list[list[int]]) -> str:
    n = len(labels)
    cell, left, top = 46, 120, 120
    width, height = left + cell * n + 20, top + cell * n + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<text x="{left}" y="16" font-size="14">held-out confusion matrix (rows: true topic, columns: proposed), row-normalised shade</text>',
    ]
    for j, label in enumerate(labels):
        x = left + j * cell + cell / 2
        parts.append(f'<text transform="translate({x},{top - 8}) rotate(-50)">{escape(label)}</text>')
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        y = top + i * cell
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4}" text-anchor="end">{escape(labels[i])}</text>')
        for j, value in enumerate(row):
            shade = value / total
            r, g, b = (int(255 - shade * (255 - c)) for c in (31, 90, 160))
            parts.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell}" height="{cell}" fill="rgb({r},{g},{b})" stroke="#ccc"/>')
            color = "#fff" if shade > 0.5 else "#222"
            parts.append(f'<text x="{left + j * cell + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" fill="{color}">{value}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _held_out_rule(metrics: dict) -> str:
    if metrics.get("refit", True):
        return f"one message in {topic_model.HOLDOUT_SHARE}, by a stable hash of its text, never trained on for these figures; the model served is then refitted on all"
    return f"one message in {topic_model.LARGE_HOLDOUT_SHARE} of a large set, by a stable hash of its text, never trained on; the model served is the one evaluated"


def markdown(metrics: dict, *, version: str, command: str, picture: str) -> str:
    lines = [
        f"Model `{version}`: {metrics['examples']} examples in {metrics['topics']} topics, trained in {metrics.get('seconds', '?')} s.",
        "",
        f"Held out ({_held_out_rule(metrics)}): **{metrics['held_out']}** messages.",
        "",
        "| figure | value |", "|---|---|",
        f"| accuracy | {metrics['accuracy']:.3f} |",
        f"| macro-F1 | {metrics['macro_f1']:.3f} |",
        f"| top-3 accuracy | {metrics['top3_accuracy']:.3f} |",
        f"| softmax temperature | {metrics['temperature']:.3f} |",
        "",
        "| topic | precision | recall | F1 | held-out messages |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for c in metrics["per_class"]:
        lines.append(f"| {c['name']} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    lines += ["", f"![confusion matrix]({picture})", "", "Reproduce with:", "", "```", command, "```", ""]
    return "\n".join(lines)
