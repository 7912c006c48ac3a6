"""`deploy-compare diff`: regressions beyond the noise of both runs are flagged (exit 1), improvements
are not; OK -> missing is a regression; runs that do not compare are refused (exit 3)."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from deploy_compare.cli import main
from deploy_compare.errors import IncomparableRunsError
from deploy_compare.report.diff import ACCURACY_POINTS, diff_runs, figures, format_diff

pytestmark = pytest.mark.unit


def _scaled_served(results, key: str, factor: float, concurrency: int):
    served = copy.deepcopy(results.served)
    for point in served[0].sweep:
        if point["concurrency"] == concurrency:
            point[key] *= factor
    return served


def test_identical_runs_have_no_regression(make_results):
    report = diff_runs(make_results(), make_results(), 0.10)
    assert report.rows and not report.regressions
    assert all(r.change_pct in (None, 0.0) for r in report.rows)


def test_latency_regression_is_flagged_and_improvements_are_not(make_results):
    a = make_results()
    b = make_results(served=_scaled_served(a, "p50_ms", 1.5, 4))
    b.served = _scaled_served(b, "p50_ms", 0.5, 1)  # faster: an improvement
    b.served = _scaled_served(b, "throughput_rps", 2.0, 16)  # more throughput: an improvement
    report = diff_runs(a, b, 0.10)
    assert [r.key for r in report.regressions] == ["served torchserve c=4 p50_ms"]
    flagged = report.regressions[0]
    assert flagged.change_pct == pytest.approx(50.0)
    improved = {r.key: r for r in report.rows}
    assert improved["served torchserve c=1 p50_ms"].change_pct == pytest.approx(-50.0)
    assert improved["served torchserve c=16 throughput_rps"].change_pct == pytest.approx(100.0)
    assert {r.key for r in report.improvements} == {
        "served torchserve c=1 p50_ms",
        "served torchserve c=16 throughput_rps",
    }


def test_change_within_tolerance_is_not_flagged(make_results):
    a = make_results()
    b = make_results(served=_scaled_served(a, "p50_ms", 1.05, 4))
    assert not diff_runs(a, b, 0.10).regressions
    assert diff_runs(a, b, 0.01).regressions


def test_one_repetition_judges_by_a_factor_and_leaves_a_levels_p99_unjudged(make_results):
    """Default runs of the same code on one VM moved figures up to 3.7x and a level's p99 up to
    6.4x: by default one repetition flags a change beyond a factor 4, and a tail never."""
    a = make_results()
    b = make_results(served=_scaled_served(a, "p99_ms", 10.0, 4))
    b.served = _scaled_served(b, "p50_ms", 3.7, 1)  # within the drift
    b.served = _scaled_served(b, "throughput_rps", 1 / 5, 16)  # beyond it, as a factor: 5x fewer
    report = diff_runs(a, b)
    rows = {r.key: r for r in report.rows}
    assert rows["served torchserve c=4 p99_ms"].rule == "tail, once"
    assert rows["served torchserve c=4 p99_ms"].outcome == "other"  # not called a tie either
    assert rows["served torchserve c=1 p50_ms"].outcome == "tied"
    assert [r.key for r in report.regressions] == ["served torchserve c=16 throughput_rps"]
    assert "lower by more than 4x" in rows["served torchserve c=16 throughput_rps"].note


def test_an_slo_rate_its_client_limited_is_a_lower_bound_not_a_regression(make_results):
    """The load client fell behind at 844/s, so B's search ended at 422/s "at least": that says
    nothing of the server, A's 1,250/s is not beaten (run 20261206-114835 against 113517)."""
    a = make_results()
    b = make_results()
    b.served = copy.deepcopy(a.served)
    b.served[0].slo.update(max_rate_rps=a.served[0].slo["max_rate_rps"] / 5, limited_by_client=True)
    row = next(r for r in diff_runs(a, b).rows if r.key == "slo torchserve max_rate_rps")
    assert not row.regression and row.rule == "lower bound" and "B's load client fell behind" in row.note
    b.served[0].slo["limited_by_client"] = False  # the same drop (5x), the server's own: a regression
    assert "slo torchserve max_rate_rps" in {r.key for r in diff_runs(a, b).regressions}
    # A's rate was the lower bound and B's is higher: not an improvement of the server either.
    b.served[0].slo["limited_by_client"] = True
    row = next(r for r in diff_runs(b, a).rows if r.key == "slo torchserve max_rate_rps")
    assert not row.improved and row.rule == "lower bound" and "A's load client" in row.note


def test_rate_throughput_accuracy_and_status_regressions(make_results):
    a = make_results()
    b = make_results()
    b.served = copy.deepcopy(a.served)
    b.served[0].slo["max_rate_rps"] *= 0.5
    b.artifacts = copy.deepcopy(a.artifacts)
    b.artifacts["tflite_int8"]["parity"]["accuracy"] -= (ACCURACY_POINTS + 0.5) / 100
    b.artifacts["tflite_fp16"]["parity"]["accuracy"] -= (ACCURACY_POINTS / 2) / 100  # small: tolerated
    b.local = copy.deepcopy(a.local)
    onnx = next(r for r in b.local if r["artifact"] == "onnx" and r["profile"] == "server" and r["threads"] == 1)
    onnx["throughput_samples_per_s"]["8"] *= 0.5
    savedmodel = next(r for r in b.local if r["artifact"] == "savedmodel" and r["profile"] == "server")
    savedmodel.update(status="FAILED", reason="worker crashed")
    report = diff_runs(a, b, 0.10)
    flagged = {r.key for r in report.regressions}
    assert flagged == {
        "slo torchserve max_rate_rps",
        "artifact tflite_int8 accuracy_pct",
        "local onnx server t=1 bs8_samples_per_s",
        "local savedmodel server t=1 status",
    }
    # The FAILED row's figures are gone too: one regression (its status), the rest point to it.
    gone = {r.key: r for r in report.rows if r.key.startswith("local savedmodel server t=1 ")}
    assert gone["local savedmodel server t=1 p50_ms"].note == "missing (see its status)"


def test_sizes_are_shown_but_never_flagged(make_results):
    a = make_results()
    b = make_results(artifacts=copy.deepcopy(a.artifacts))
    b.artifacts["onnx"]["size_bytes"] *= 3
    report = diff_runs(a, b, 0.10)
    row = next(r for r in report.rows if r.key == "artifact onnx size_bytes")
    assert row.change_pct == pytest.approx(200.0) and not row.regression


def test_diff_command_exit_codes(make_run, make_results, capsys):
    a = make_results()
    run_a = make_run(a, name="a")
    same = make_run(make_results(), name="same")
    worse = make_run(make_results(served=_scaled_served(a, "p50_ms", 2.0, 16)), name="worse")
    assert main(["diff", str(run_a), str(same)]) == 0
    assert "no regression beyond the noise" in capsys.readouterr().out
    assert main(["diff", str(run_a), str(worse), "--tolerance", "0.10"]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("served torchserve c=16 p50_ms"))
    assert "REGRESSION" in line and "+100.0%" in line
    assert main(["diff", str(run_a), str(worse), "--tolerance", "1.5"]) == 0
    assert main(["diff", str(run_a), str(worse)]) == 0  # 2x: within the default drift of one repetition
    much_worse = make_run(make_results(served=_scaled_served(a, "p50_ms", 5.0, 16)), name="much_worse")
    assert main(["diff", str(run_a), str(much_worse)]) == 1


def test_diff_command_rejects_missing_and_invalid_runs(make_run, tmp_path, capsys):
    run_a = make_run()
    assert main(["diff", str(run_a), str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    assert main(["diff", str(broken), str(run_a)]) == 2
    err = capsys.readouterr().err
    assert "RUN_A" in err and "results.json" in err


def _repeated(results, factors: list[float]):
    """results with every served sweep point repeated once per factor (latencies times it)."""
    out = copy.deepcopy(results)
    for s in out.served:
        points = []
        for rep, f in enumerate(factors, 1):
            for p in s.sweep:
                q = dict(p, repetition=rep)
                for key in ("p50_ms", "p99_ms", "p99_incl_failures_ms"):
                    q[key] = p[key] * f
                points.append(q)
        s.sweep = points
    return out


def test_with_repetitions_a_change_inside_both_runs_ranges_is_noise(make_results):
    base = make_results()
    a = _repeated(base, [0.90, 1.0, 1.10])  # each run's own range: 20% of the median
    b = _repeated(base, [1.15, 1.25, 1.35])  # medians 25% apart: beyond 10%, inside 20% + 20%
    report = diff_runs(a, b, 0.10)
    assert not report.regressions
    row = next(r for r in report.rows if r.key == "served torchserve c=1 p50_ms")
    # three repetitions: t-intervals of the means, [0.75, 1.25] and [1.0, 1.5], overlap: tied
    assert row.rule == "interval" and row.a_range is not None and row.change_pct == pytest.approx(25.0)
    assert row.note == "tied"
    worse = _repeated(base, [1.5, 1.6, 1.7])  # 60% apart: beyond 20% + 20%
    flagged = {r.key for r in diff_runs(a, worse, 0.10).regressions}
    assert "served torchserve c=1 p50_ms" in flagged and "served torchserve c=16 p99_ms" in flagged


def test_single_runs_are_not_judged_by_their_samples_intervals(make_results):
    """One run's order-statistic interval says nothing of the drift between two runs: narrow,
    apart intervals of single runs would crown a 5% drift. Such rows use the tolerance."""
    a = make_results()
    b = make_results(served=_scaled_served(a, "p50_ms", 1.2, 1))
    for run, (low, high) in ((a, (0.98, 1.02)), (b, (1.17, 1.23))):
        for p in run.served[0].sweep:
            p["p50_ci_ms"] = [
                p["p50_ms"] * low / (1.2 if run is b else 1.0),
                p["p50_ms"] * high / (1.2 if run is b else 1.0),
            ]
    row = next(r for r in diff_runs(a, b, 0.10).rows if r.key == "served torchserve c=1 p50_ms")
    assert row.rule == "tolerance" and row.regression
    row = next(r for r in diff_runs(a, b, 0.25).rows if r.key == "served torchserve c=1 p50_ms")
    assert row.rule == "tolerance" and not row.regression  # 20% is within a 25% tolerance


def test_a_single_repetition_falls_back_to_the_tolerance_and_says_so(make_results):
    a = make_results()
    b = make_results(served=_scaled_served(a, "p50_ms", 1.2, 1))
    report = diff_runs(a, b, 0.10)
    row = next(r for r in report.regressions if r.key == "served torchserve c=1 p50_ms")
    assert row.rule == "tolerance" and "one repetition" in row.note
    assert "'tolerance' (a run with one repetition): beyond a factor 1.1" in format_diff(report)


def test_ok_to_missing_is_a_regression(make_results):
    a = make_results()
    b = make_results(served=copy.deepcopy(a.served))
    b.served[0].sweep = [p for p in b.served[0].sweep if p["concurrency"] != 16]  # a level lost
    b.served[0].slo = None
    flagged = {r.key: r for r in diff_runs(a, b, 0.10).regressions}
    assert flagged["served torchserve c=16 p50_ms"].note == "OK -> missing"
    assert "slo torchserve max_rate_rps" in flagged


def test_a_p99_that_became_unbounded_is_a_regression(make_results):
    a = make_results()
    b = make_results(served=copy.deepcopy(a.served))
    b.served[0].sweep[0]["p99_incl_failures_ms"] = None  # over 1% failed
    flagged = {r.key: r for r in diff_runs(a, b, 0.10).regressions}
    assert "now unbounded" in flagged["served torchserve c=1 p99_incl_failures_ms"].note


@pytest.mark.parametrize(
    "change, says",
    [
        ("interrupted", "was interrupted"),
        ("model", "another model"),
        ("profile", "another profile"),
        ("encoding", "another workload for"),
        ("batch size", "B its encoding at 8 sample"),
    ],
)
def test_runs_that_do_not_compare_are_refused_up_front(make_results, change, says):
    a = make_results()
    b = make_results()
    if change == "interrupted":
        b.run = dataclasses.replace(b.run, complete=False, interrupted=True)
    elif change == "model":
        b.model = dict(b.model, name="resnet18", content_hash="beef")
    elif change == "encoding":  # the same keys ("served X c=1") would compare other requests
        a.served[0].encoding, b.served[0].encoding = "json", "grpc"
    elif change == "batch size":
        for results, size in ((a, 1), (b, 8)):
            for point in results.served[0].sweep:
                point["batch_size"] = size
    else:
        b.run = dataclasses.replace(b.run, profile="quick")
    with pytest.raises(IncomparableRunsError, match=says):
        diff_runs(a, b, 0.10)
    forced = diff_runs(a, b, 0.10, force=True)
    assert forced.warnings and says in forced.warnings[0]
    assert format_diff(forced).startswith("WARNING: compared anyway (--force)")


def test_slo_encoding_best_choosing_another_encoding_in_each_run_still_compares(make_results):
    # Two default runs in a row: slo_encoding "best" chose json in A and grpc in B, and both
    # swept both. Rows carry the encoding; the levels only A's choice had are not a loss.
    a, b = make_results(), make_results()
    for results, chosen, other in ((a, "json", "grpc"), (b, "grpc", "json")):
        s = results.served[0]
        ends = [p for p in s.sweep if p["concurrency"] in (1, 16)]
        s.encoding = chosen
        s.encodings = [{"encoding": other, "status": "OK", "reason": None, "protocol": None, "sweep": ends}]
    assert {1, 4, 16} <= {p["concurrency"] for p in a.served[0].sweep}
    report = diff_runs(a, b, 0.10)  # not refused as "another workload"
    rows = {r.key: r for r in report.rows}
    assert "served torchserve [json] c=1 p50_ms" in rows and "served torchserve [grpc] c=16 p50_ms" in rows
    only_a = rows["served torchserve [json] c=4 p50_ms"]
    assert not only_a.regression and only_a.note == "not in B: B swept every level on grpc"
    assert report.regressions == []  # the same figures under other names: nothing moved
    # A run that measured JSON alone against one that chose JSON among three: the same rows.
    single = make_results()
    single.served[0].encoding = "json"
    against = diff_runs(single, a, 0.10)
    assert against.regressions == [] and "served torchserve [json] c=4 p50_ms" in {r.key for r in against.rows}


def test_the_reported_bug_an_interrupted_run_that_lost_everything_never_passes(make_run, make_results, capsys):
    # Found as a new user would: diff between a complete quick run and an interrupted full run
    # that had lost every local and served result printed "no regression" and exited 0.
    a = make_results()
    a.run = dataclasses.replace(a.run, profile="quick")
    lost = make_results(local=[], served=[], artifacts={})
    lost.run = dataclasses.replace(lost.run, complete=False, interrupted=True, stages=lost.run.stages[:1])
    run_a, run_b = make_run(a, name="quick"), make_run(lost, name="lost")
    code = main(["diff", str(run_a), str(run_b)])
    captured = capsys.readouterr()
    assert code == 3 and "no regression" not in captured.out
    assert "was interrupted" in captured.err and "another profile" in captured.err
    assert "INTERRUPTED" in captured.out  # each run described before any figure
    # Compared anyway, everything A measured and B lost is a regression: every row and target OK
    # in A, and the accuracy of every artifact.
    assert main(["diff", str(run_a), str(run_b), "--force"]) == 1
    assert "no regression" not in capsys.readouterr().out
    flagged = {r.key for r in diff_runs(a, lost, force=True).regressions}
    lost_keys = {k for k, f in figures(a).items() if (f.better == "status" and f.value == "OK") or "accuracy" in k}
    assert lost_keys <= flagged and any(k.startswith("served ") for k in lost_keys)


def _with_server_figures(results, *, bs8=(300.0, 320.0), tuned=500.0, first_s=(2.0, 2.2), cpu=(0.8, 0.9)):
    """results whose torchserve has two repetitions of its c=1 point (the server's CPU ms per
    request), a batch-8 SLO search per repetition, two cold starts and a tune stage."""
    out = copy.deepcopy(results)
    s = out.served[0]
    c1 = next(p for p in s.sweep if p["concurrency"] == 1)
    s.sweep = [p for p in s.sweep if p["concurrency"] != 1] + [
        dict(c1, repetition=rep, server={"cpu_ms_per_request": value}) for rep, value in enumerate(cpu, 1)
    ]
    s.batches = [
        {"batch_size": 8, "repetition": rep, "sweep": [], "slo": {"max_rate_rps": rate, "trials": []}}
        for rep, rate in enumerate(bs8, 1)
    ]
    s.cold_start_repeats = [
        {"repetition": rep, "launch_to_healthy_s": 1.0, "launch_to_first_inference_s": v, "first_requests_ms": []}
        for rep, v in enumerate(first_s, 1)
    ]
    s.cold_start = s.cold_start_repeats[0]
    s.tuning = {"best": None if tuned is None else {"label": "workers=2", "max_rate_rps": tuned}, "trials": []}
    return out


def test_batch_sizes_tuning_cold_start_and_server_cpu_are_compared(make_results):
    a = _with_server_figures(make_results())
    report = diff_runs(a, _with_server_figures(make_results()), 0.10)
    assert not report.regressions
    rows = {r.key: r for r in report.rows}
    assert rows["slo torchserve bs8 max_rate_rps"].rule == "spread"
    assert rows["served torchserve cold_start_first_inference_s"].rule == "spread"
    assert rows["served torchserve c=1 server_cpu_ms_per_request"].rule == "spread"
    assert rows["tune torchserve best max_rate_rps"].rule == "tolerance"  # tuned in repetition 1 only
    worse = _with_server_figures(make_results(), bs8=(150.0, 160.0), tuned=400.0, first_s=(5.0, 5.5), cpu=(2.0, 2.1))
    flagged = {r.key for r in diff_runs(a, worse, 0.10).regressions}
    assert flagged == {
        "slo torchserve bs8 max_rate_rps",
        "tune torchserve best max_rate_rps",
        "served torchserve cold_start_first_inference_s",
        "served torchserve c=1 server_cpu_ms_per_request",
    }
    # Noise stays quiet: inside both runs' ranges, or within the tolerance for the one tuned rate.
    close = _with_server_figures(make_results(), bs8=(290.0, 330.0), tuned=470.0, first_s=(2.1, 2.3), cpu=(0.85, 0.9))
    assert not diff_runs(a, close, 0.10).regressions
    # No setting met the bound any more: the tuned rate is 0 req/s.
    none = _with_server_figures(make_results(), tuned=None)
    assert {r.key for r in diff_runs(a, none, 0.10).regressions} == {"tune torchserve best max_rate_rps"}


def test_a_target_that_failed_is_one_regression_not_one_per_lost_figure(make_results):
    a = _with_server_figures(make_results())
    b = copy.deepcopy(a)
    b.served[0] = dataclasses.replace(b.served[0], status="FAILED", reason="server exited")
    flagged = {r.key for r in diff_runs(a, b, 0.10).regressions}
    assert flagged == {"served torchserve status"}


def test_diff_html_page_says_what_got_worse_better_and_tied(make_run, make_results, tmp_path, capsys):
    a = make_results()
    b = make_results(served=_scaled_served(a, "p50_ms", 5.0, 4))  # worse beyond a factor 4
    b.served = _scaled_served(b, "p50_ms", 0.2, 1)  # better beyond it
    b.served = _scaled_served(b, "throughput_rps", 1.03, 16)  # within the noise: a tie
    out = tmp_path / "diff.html"
    assert main(["diff", str(make_run(a, name="a")), str(make_run(b, name="b")), "--html", str(out)]) == 1
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    report = diff_runs(a, b)
    assert [r.key for r in report.improvements] == ["served torchserve c=1 p50_ms"]

    def section(key: str) -> str:  # the HTML of one section of the page
        start = page.index(f'id="{key}"')
        return page[start : page.find('id="', start + 5)]

    worse, better, tied = section("worse"), section("better"), section("tied")
    assert "served torchserve c=4 p50_ms" in worse and "+400.0%" in worse and "slower" in worse
    assert "served torchserve c=1 p50_ms" in better and "-80.0%" in better and "faster" in better
    assert "served torchserve c=16 throughput_rps" in tied and "+3.0%" in tied and ">tied<" in tied
    assert "c=4 p50_ms" not in better + tied and "c=1 p50_ms" not in worse + tied
    assert "1 figure(s) worse beyond the noise, 1 better" in page and "<script" not in page
    # the judgement is diff.py's: the page holds exactly its rows
    assert len(report.rows) == page.count("<tr") - page.count("<thead><tr>")
    assert (
        main(
            [
                "diff",
                str(make_run(a, name="a2")),
                str(make_run(a, name="a3")),
                "--html",
                str(tmp_path / "no" / "x.html"),
            ]
        )
        == 2
    )
