"""Markdown tables from the results that ``run.py`` collects."""

from __future__ import annotations

COLUMN_ORDER = (
    "numpy",
    "pytensor",
    "pytensor_cvm",
    "pytensor_cvm_trust",
    "jax",
    "torch",
    "torch_compile",
    "symgraph",
    "symgraph_trust",
)
CEILING_IMPLS = ("bandwidth_floor", "blas_gemms", "numpy_gemms")  # shown in one "ceiling" column
BUSY_CORES = 0.3  # other processes' CPU use (cores) above which a cell is marked


def _unit(seconds: float) -> tuple[str, float]:
    if seconds < 1e-3:
        return "µs", 1e6
    if seconds < 1:
        return "ms", 1e3
    return "s", 1.0


def _cells(bench: dict) -> dict[str, dict[str, dict]]:
    """row -> impl -> measurement, or ``{"reason": ...}`` where there is none."""
    table: dict[str, dict[str, dict]] = {}
    rows = [r for res in bench.values() if res.get("ok") for r in res["rows"]]
    rows = list(dict.fromkeys(rows))
    for impl, res in bench.items():
        for row in rows:
            if not res.get("ok"):
                cell = {"reason": res["reason"]}
            elif row in res["rows"]:
                run = res.get("cases", {}).get(row, res)  # a case ran in a process of its own
                cell = dict(res["rows"][row], busy=run.get("foreign_cpu_cores"))
            else:
                continue
            table.setdefault(row, {})[impl] = cell
    return table


def _ratio(cells: dict[str, dict]) -> str:
    def best(names):
        timed = [(cells[n]["median"], n) for n in names if "median" in cells[n]]
        return min(timed) if timed else None

    ours = best([n for n in cells if n.startswith("symgraph")])
    peer = best([n for n in cells if not n.startswith("symgraph") and n not in CEILING_IMPLS])
    if ours is None or peer is None:
        return "n/a"
    return f"{ours[0] / peer[0]:.2f}x ({peer[1]})"


def _text(cell: dict | None, scale: float) -> str:
    if cell is None:
        return "—"
    if "reason" in cell:
        return "n/a ({})".format(cell["reason"][:60].replace("|", "/"))
    busy = cell.get("busy")
    mark = "*" if busy is not None and busy > BUSY_CORES else ""
    return f"{_number(cell['median'] * scale)}{mark}"


def _number(value: float) -> str:
    """Three significant figures, no exponent: 0.0123, 1.23, 12.3, 1,234."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def markdown(results: dict) -> str:
    """The results as markdown: machine ceilings, then one row per benchmark row."""
    lines = []
    ceilings = results.get("ceilings") or {}
    if "copy_float32_2threads" in ceilings:
        copy, gemm = ceilings["copy_float32_2threads"], ceilings["sgemm_2048"]
        lines += [
            f"Machine ceilings: float32 copy {copy['GB/s']:.1f} GB/s (2 threads, read + write), "
            f"sgemm 2048^3 {gemm['GFLOP/s']:.0f} GFLOP/s (numpy BLAS).",
            "",
        ]
    benches = results.get("benchmarks", {})
    present = {impl for bench in benches.values() for impl in bench}
    columns = [c for c in COLUMN_ORDER if c in present]
    columns += sorted(present - set(columns) - set(CEILING_IMPLS))
    has_ceiling = bool(present & set(CEILING_IMPLS))
    header = ["benchmark", "unit", *columns] + ["ceiling"] * has_ceiling + ["symgraph / best peer"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, bench in benches.items():
        for row, cells in _cells(bench).items():
            timed = [c["median"] for c in cells.values() if "median" in c]
            unit, scale = _unit(min(timed)) if timed else ("", 1.0)
            label = f"{name} ({row})" if row else name
            ceiling = next((cells[c] for c in CEILING_IMPLS if c in cells), None)
            texts = [_text(cells.get(c), scale) for c in columns]
            texts += [_text(ceiling, scale)] * has_ceiling
            lines.append("| " + " | ".join([label, unit, *texts, _ratio(cells)]) + " |")
    lines += [
        "",
        "Medians. Ratio < 1 means symgraph is faster than the best peer. "
        f"`*`: other processes used more than {BUSY_CORES} cores during that measurement.",
    ]
    return "\n".join(lines)
