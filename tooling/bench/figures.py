"""The benchmark's figures: medians and percentiles per variant, ratios ours/baseline, budgets, tables."""

from __future__ import annotations

from typing import Any

VARIANTS = ("ours", "baseline")
BUDGETS = {
    "cold_ratio": 1.5,
    "warm_p50_ratio": 1.10,
    "pipeline_cpu_us": 150.0,
    "peak_rss_mb": 60.0,
    "package_zip_mb": 10.0,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return percentile(values, 0.5)


def summarise(kind: str, runs: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant in VARIANTS:
        colds = runs[variant]["cold"]
        packaged = runs[variant]["package_cold"]
        warms = runs[variant]["warm"]
        latencies = [ns / 1e3 for w in warms for ns in w["warm_latency_ns"]]
        pipeline = [ns / 1e3 for w in warms for ns in w["cpu_pipeline_ns"]]
        total = [ns / 1e3 for w in warms for ns in w["cpu_total_ns"]]
        hot = [ns / 1e3 for w in warms for ns in w["cpu_hot_pipeline_ns"]]
        outside = [ns / 1e3 for w in warms for ns in w["wall_outside_sdk_ns"]]
        inside = [ns / 1e3 for w in warms for ns in w["wall_inside_sdk_ns"]]
        callbacks = sum(len(w["warm_latency_ns"]) + len(w["cpu_total_ns"]) + 1 for w in warms)
        seen_warm = [w["seen"] for w in warms]
        summary[variant] = {
            "cold_runs": len(colds),
            "cold_wall_ms": median([c["cold"]["wall_ms"] for c in colds]),
            "cold_wall_ms_min_max": [
                min(c["cold"]["wall_ms"] for c in colds),
                max(c["cold"]["wall_ms"] for c in colds),
            ],
            "cold_in_process_ms": median([c["cold"]["in_process_ms"] for c in colds]),
            "cold_cpu_ms": median([c["cold"]["cpu_ms"] for c in colds]),
            "cold_import_ms": median([c["cold"]["import_ms"] for c in colds]),
            "cold_first_callback_ms": median([c["cold"]["first_callback_ms"] for c in colds]),
            "cold_interpreter_ms": median([c["cold"]["interpreter_ms"] for c in colds]),
            "package_cold_runs": len(packaged),
            "package_cold_wall_ms": median([c["cold"]["wall_ms"] for c in packaged]) if packaged else None,
            "package_cold_cpu_ms": median([c["cold"]["cpu_ms"] for c in packaged]) if packaged else None,
            "package_cold_import_ms": median([c["cold"]["import_ms"] for c in packaged]) if packaged else None,
            "warm_callbacks": len(latencies),
            "warm_p50_us": percentile(latencies, 0.5),
            "warm_p90_us": percentile(latencies, 0.9),
            "warm_p99_us": percentile(latencies, 0.99),
            "cpu_callbacks": len(pipeline),
            "pipeline_cpu_us_median": median(pipeline),
            "pipeline_cpu_us_mean": sum(pipeline) / len(pipeline),
            "total_cpu_us_mean": sum(total) / len(total),
            "hot_pipeline_cpu_us_mean": sum(hot) / len(hot),
            "hot_pipeline_cpu_us_median": median(hot),
            "wall_outside_sdk_us_median": median(outside),
            "wall_inside_sdk_us_median": median(inside),
            "peak_rss_mb": max(w["rss_kb"] for w in warms) / 1024,
            "rss_after_callbacks": warms[0]["rss_at"],
            "rss_mb_after_n_callbacks": {n: kb / 1024 for n, kb in warms[0]["rss_trace_kb"].items()},
            "cos_requests_per_callback": sum(s["cos_requests"] for s in seen_warm) / callbacks,
            "cos_methods_per_callback": {
                m: sum(s["cos_methods"].get(m, 0) for s in seen_warm) / callbacks
                for m in sorted({m for s in seen_warm for m in s["cos_methods"]})
            },
            "topic_requests_per_callback": sum(s["topic_requests"] for s in seen_warm) / callbacks,
            "cold_cos_requests": max(c["seen"]["cos_requests"] for c in colds),
            "cold_topic_requests": max(c["seen"]["topic_requests"] for c in colds),
            "callbacks_per_instance": callbacks // len(warms),
            "cos_connections_per_instance": max(s["cos_connections"] for s in seen_warm),
            "topic_connections_per_instance": max(s["topic_connections"] for s in seen_warm),
            "cos_connections_per_1000": 1000 * sum(s["cos_connections"] for s in seen_warm) / callbacks,
        }
    ours, base = summary["ours"], summary["baseline"]
    summary["ratio"] = {
        "cold_wall": ours["cold_wall_ms"] / base["cold_wall_ms"],
        "cold_in_process": ours["cold_in_process_ms"] / base["cold_in_process_ms"],
        "cold_cpu": ours["cold_cpu_ms"] / base["cold_cpu_ms"],
        "package_cold_wall": (
            ours["package_cold_wall_ms"] / base["package_cold_wall_ms"] if ours["package_cold_runs"] else None
        ),
        "warm_p50": ours["warm_p50_us"] / base["warm_p50_us"],
        "warm_p99": ours["warm_p99_us"] / base["warm_p99_us"],
        "pipeline_cpu": ours["pipeline_cpu_us_mean"] / base["pipeline_cpu_us_mean"],
        "total_cpu": ours["total_cpu_us_mean"] / base["total_cpu_us_mean"],
        "hot_pipeline_cpu": ours["hot_pipeline_cpu_us_mean"] / base["hot_pipeline_cpu_us_mean"],
        "peak_rss": ours["peak_rss_mb"] / base["peak_rss_mb"],
    }
    return summary


def budgets(summaries: dict[str, Any], package: dict[str, Any]) -> dict[str, Any]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    checks: dict[str, Any] = {}
    for kind, s in summaries.items():
        ours = s["ours"]
        if kind == "porn_detect":  # every bench hit is new and published: at most 2 COS requests, 1 publish
            requests_ok = ours["cos_requests_per_callback"] <= 2 and ours["topic_requests_per_callback"] == 1
        else:  # exactly one PUT per stored event, nothing else
            requests_ok = ours["cos_methods_per_callback"] == {"PUT": 1.0} and ours["topic_requests_per_callback"] == 0
        connections_ok = ours["cos_connections_per_instance"] == 1 and ours["topic_connections_per_instance"] == (
            1 if kind == "porn_detect" else 0
        )
        checks[kind] = {
            "cold_start": verdict(s["ratio"]["cold_wall"] <= BUDGETS["cold_ratio"]),
            "warm_p50": verdict(s["ratio"]["warm_p50"] <= BUDGETS["warm_p50_ratio"]),
            "pipeline_cpu": verdict(ours["pipeline_cpu_us_mean"] <= BUDGETS["pipeline_cpu_us"]),
            "peak_rss": verdict(ours["peak_rss_mb"] <= BUDGETS["peak_rss_mb"]),
            "requests": verdict(requests_ok),
            "connections": verdict(connections_ok),
        }
    if "zip_bytes" in package:
        checks["package"] = verdict(package["zip_bytes"] / 2**20 <= BUDGETS["package_zip_mb"])
    else:
        checks["package"] = package["status"]
    return checks


def table(summaries: dict[str, Any], checks: dict[str, Any], package: dict[str, Any]) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    def trio(ours: float, base: float, fmt: str) -> list[str]:
        return [format(ours, fmt), format(base, fmt), f"{ours / base:.2f}x"]

    lines = [
        row(
            [
                "function",
                "cold ms ours",
                "base",
                "ratio",
                "warm p50 µs ours",
                "base",
                "ratio",
                "warm p99 µs ours",
                "base",
                "ratio",
                "pipeline CPU µs ours",
                "base",
                "peak RSS MB ours",
                "base",
                "COS req/cb ours",
                "base",
                "topic req/cb ours",
                "base",
                "conns COS/topic ours",
                "base",
            ]
        ),
        row(["---"] + ["---:"] * 19),
    ]
    for kind, s in summaries.items():
        o, b = s["ours"], s["baseline"]
        cells = [kind]
        cells += trio(o["cold_wall_ms"], b["cold_wall_ms"], ".0f")
        cells += trio(o["warm_p50_us"], b["warm_p50_us"], ".0f")
        cells += trio(o["warm_p99_us"], b["warm_p99_us"], ".0f")
        cells += [f"{o['pipeline_cpu_us_mean']:.0f}", f"{b['pipeline_cpu_us_mean']:.0f}"]
        cells += [f"{o['peak_rss_mb']:.1f}", f"{b['peak_rss_mb']:.1f}"]
        cells += [f"{o['cos_requests_per_callback']:.2f}", f"{b['cos_requests_per_callback']:.2f}"]
        cells += [f"{o['topic_requests_per_callback']:.2f}", f"{b['topic_requests_per_callback']:.2f}"]
        cells += [
            f"{o['cos_connections_per_instance']}/{o['topic_connections_per_instance']}",
            f"{b['cos_connections_per_instance']}/{b['topic_connections_per_instance']}",
        ]
        lines.append(row(cells))
    lines += ["", row(["budget", *summaries]), row(["---"] + [":---:"] * len(summaries))]
    for name in ("cold_start", "warm_p50", "pipeline_cpu", "peak_rss", "requests", "connections"):
        lines.append(row([name] + [checks[kind][name] for kind in summaries]))
    if "zip_bytes" in package:
        zipped = package["zip_bytes"] / 2**20
        unpacked = package["unpacked_bytes"] / 2**20
        lines += ["", f"code package: {zipped:.2f} MiB zipped, {unpacked:.1f} MiB unpacked, {checks['package']}"]
    else:
        lines += ["", f"code package: {package['status']}"]
    return "\n".join(lines)


def package_cold_table(summaries: dict[str, Any]) -> str:
    if not any(s["ours"]["package_cold_runs"] for s in summaries.values()):
        return ""
    lines = [
        "| function | package cold ms ours | base | ratio | import ms ours | base | CPU ms ours | base |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, s in summaries.items():
        o, b = s["ours"], s["baseline"]
        lines.append(
            f"| {kind} | {o['package_cold_wall_ms']:.0f} | {b['package_cold_wall_ms']:.0f} | "
            f"{s['ratio']['package_cold_wall']:.2f}x | {o['package_cold_import_ms']:.0f} | "
            f"{b['package_cold_import_ms']:.0f} | {o['package_cold_cpu_ms']:.0f} | {b['package_cold_cpu_ms']:.0f} |"
        )
    return "\n".join(lines)


def breakdown(summaries: dict[str, Any]) -> str:
    lines = [
        "| function | variant | interpreter ms | import ms | first callback ms | in-process ms | cold CPU ms | "
        "total CPU µs/cb | pipeline CPU µs median | wall outside SDK µs median | wall inside SDK µs median | "
        "hot pipeline CPU µs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, s in summaries.items():
        for variant in VARIANTS:
            v = s[variant]
            lines.append(
                f"| {kind} | {variant} | {v['cold_interpreter_ms']:.0f} | {v['cold_import_ms']:.0f} | "
                f"{v['cold_first_callback_ms']:.1f} | {v['cold_in_process_ms']:.0f} | {v['cold_cpu_ms']:.0f} | "
                f"{v['total_cpu_us_mean']:.0f} | "
                f"{v['pipeline_cpu_us_median']:.0f} | {v['wall_outside_sdk_us_median']:.0f} | "
                f"{v['wall_inside_sdk_us_median']:.0f} | "
                f"{v['hot_pipeline_cpu_us_mean']:.0f} |"
            )
    return "\n".join(lines)
