"""A plain-text table of the manifest: sizes, export times and parity figures."""

from __future__ import annotations

from ..manifest import Manifest


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def parity_table(manifest: Manifest) -> str:
    header = (
        "artifact",
        "layout",
        "in dtype",
        "size KiB",
        "export s",
        "max|diff|",
        "top-1 agree",
        "accuracy",
        "parity",
    )
    rows = [header]
    for entry in manifest.artifacts.values():
        p = entry.parity
        rows.append(
            (
                entry.name,
                entry.inputs[0].layout,
                entry.inputs[0].dtype,
                f"{entry.size_bytes / 1024:.1f}",
                f"{entry.export_seconds:.2f}",
                "-" if p is None else f"{p.max_abs_diff:.2e}",
                "-" if p is None else _pct(p.top1_agreement),
                "-" if p is None else _pct(p.accuracy),
                "-" if p is None else ("ok" if p.passed else "FAILED"),
            )
        )
    for name in manifest.failures:
        if name not in manifest.artifacts:
            rows.append((name, "-", "-", "-", "-", "-", "-", "-", "FAILED"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    ref = manifest.model.reference_accuracy
    lines.append(f"PyTorch reference accuracy on {manifest.model.eval_samples} held-out samples: {_pct(ref)}")
    return "\n".join(lines)
