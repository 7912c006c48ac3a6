"""The served stage's record: a scenario listener (deploy/scenario.py) appending to the
ServedResult as soon as each piece exists and saving, so a server that dies mid-run still
leaves what finished in results.json.

Where each piece goes: the first encoding at the first request batch size fills
result.sweep / result.slo (the SLO search combined over the repetitions); each further
batch size one entry of result.batches; each further encoding one cell of result.encodings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .results import ServedResult
from .scenario import At, EncodingPlan


def get_trials(slo: dict | None) -> list[dict]:
    """The trials already recorded (earlier repetitions), each with its repetition."""
    trials = (slo or {}).get("trials")
    return trials if isinstance(trials, list) else []


class ServedRecord:
    """Fills `result` with one repetition's points (`repetition` > 1: added to the earlier)."""

    def __init__(
        self, result: ServedResult, save: Callable[[], None], repetition: int, plans: list[EncodingPlan]
    ) -> None:
        self.result, self.save, self.repetition = result, save, repetition
        self.plans = {p.encoding: p for p in plans}
        self._batches: dict[int, dict[str, Any]] = {}
        self._cells: dict[str, dict[str, Any]] = {}

    def encoding_skipped(self, encoding: str, reason: str) -> None:
        if self.repetition == 1:  # later repetitions: the same reason, the cell exists
            self.result.encodings.append(self.plans[encoding].cell("SKIPPED", reason))

    def encoding_started(self, at: At, endpoint: Any) -> None:
        if at.encoding_index == 0:
            self.result.encoding = at.encoding
            # slo_encoding "best": its first sweep chose it; the full sweep that follows replaces it
            self.result.encodings = [c for c in self.result.encodings if c.get("encoding") != at.encoding]
            self._cells.pop(at.encoding, None)
            return
        earlier = [c for c in self.result.encodings if c.get("encoding") == at.encoding]
        if earlier:  # a later repetition adds its points to the encoding's one cell
            self._cells[at.encoding] = earlier[0]
        else:
            self._cells[at.encoding] = self.plans[at.encoding].cell("OK", None)
            self.result.encodings.append(self._cells[at.encoding])

    def encoding_failed(self, at: At, error: Exception) -> None:
        cell = self._cells[at.encoding]
        cell["status"], cell["reason"] = "FAILED", str(error)
        self.save()

    def level_finished(self, at: At, result: Any) -> None:
        if at.encoding_index > 0:
            self._cells[at.encoding]["sweep"].append({**result.to_dict(), "repetition": self.repetition})
        elif at.batch_index == 0:
            self.result.sweep.append({**result.to_dict(), "repetition": self.repetition})
        else:
            self._batch(at)["sweep"].append(result.to_dict())  # the entry carries the repetition
        self.save()

    def batch_failed(self, at: At, error: Exception) -> None:
        entry = self._batch(at)
        entry["status"], entry["reason"] = "FAILED", str(error)
        self.save()

    def search_finished(self, at: At, slo: Any, start_rate_rps: float | None, origin: str | None) -> None:
        if at.batch_index == 0:
            this = slo.to_dict()
            trials = [{**t, "repetition": self.repetition} for t in this.pop("trials")]
            self.result.slo_repeats.append({**this, "repetition": self.repetition})
            self.result.slo = _combine(self.result.slo_repeats, get_trials(self.result.slo) + trials)
        else:
            entry = self._batch(at)
            entry["slo_start_rate_rps"] = start_rate_rps
            entry["slo_start_from"] = origin if start_rate_rps is not None else slo.note
            entry["slo"] = slo.to_dict()
        self.save()

    def run_finished(self, result: Any) -> None:
        rss = (result.server or {}).get("peak_rss_mib")
        if rss is not None:
            self.result.peak_rss_mib = max(self.result.peak_rss_mib or 0.0, rss)

    def _batch(self, at: At) -> dict[str, Any]:
        """This batch size's entry in result.batches, appended when first needed."""
        if at.batch_size not in self._batches:
            self._batches[at.batch_size] = entry = {
                "batch_size": at.batch_size,
                "repetition": self.repetition,
                "sweep": [],
                "slo": None,
                "status": "OK",
                "reason": None,
            }
            self.result.batches.append(entry)
        return self._batches[at.batch_size]

    def batch_started(self, at: At, payloads: Any) -> None:
        if at.encoding_index == 0 and at.batch_index > 0:
            self._batch(at)


def _combine(repeats: list[dict[str, Any]], trials: list[dict[str, Any]]) -> dict[str, Any]:
    from ..repeats import combine_slo

    return combine_slo(repeats, trials)
