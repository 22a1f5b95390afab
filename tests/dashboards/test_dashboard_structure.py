"""The Grafana dashboards load by provisioning and by import, and every panel is usable."""

from __future__ import annotations

import pytest
from _catalogue import labels_of
from _promql import selectors
from _shipped import DASHBOARD_FILES, dashboard_queries, load_dashboard, panels

VARIABLES = ("job", "instance", "scheduler", "executor", "job_name")
BOARDS = [pytest.param(path, id=path.name) for path in DASHBOARD_FILES]
QUERIES = [
    pytest.param(query, id=query.id)
    for path in DASHBOARD_FILES
    for query in dashboard_queries(path)
    if query.kind != "variable"
]
VISIBLE_PANELS = [
    pytest.param(panel, id=f"{path.name}:{panel['title']}")
    for path in DASHBOARD_FILES
    for panel in panels(load_dashboard(path))
    if panel["type"] != "row"
]


def test_the_overview_and_job_dashboards_ship() -> None:
    """dashboards/ holds the overview and the per-job drill-down."""
    assert {path.name for path in DASHBOARD_FILES} == {
        "obssched-overview.json",
        "obssched-job.json",
    }


@pytest.mark.parametrize("path", BOARDS)
def test_dashboard_has_a_fixed_uid_and_current_schema(path) -> None:
    """A fixed uid keeps links stable; the schema is current and the id left to Grafana."""
    board = load_dashboard(path)
    assert board["uid"] == path.stem
    assert board["schemaVersion"] >= 39
    assert board["id"] is None


@pytest.mark.parametrize("path", BOARDS)
def test_data_source_is_a_template_variable_not_an_import_input(path) -> None:
    """Provisioning never resolves ${DS_...} inputs, so the data source is a variable."""
    text = path.read_text(encoding="utf-8")
    board = load_dashboard(path)
    assert "__inputs" not in board
    assert "${DS_" not in text
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")


@pytest.mark.parametrize("path", BOARDS)
def test_dashboard_has_the_filter_variables(path) -> None:
    """Every dashboard offers job, instance, scheduler, executor and job_name filters."""
    names = [v["name"] for v in load_dashboard(path)["templating"]["list"]]
    assert names == ["datasource", *VARIABLES]


@pytest.mark.parametrize("path", BOARDS)
def test_job_name_all_value_follows_the_executor_filter(path) -> None:
    """$job_name has no ".*" all value, so "All" expands to the jobs of the chosen executors."""
    (variable,) = [v for v in load_dashboard(path)["templating"]["list"] if v["name"] == "job_name"]
    assert "allValue" not in variable
    assert 'executor=~"$executor"' in variable["query"]["query"]


@pytest.mark.parametrize("panel", VISIBLE_PANELS)
def test_panel_has_a_unit_and_a_description(panel) -> None:
    """Every panel says what it shows and in which unit."""
    assert panel["description"].strip()
    assert panel["fieldConfig"]["defaults"]["unit"]


@pytest.mark.parametrize("panel", VISIBLE_PANELS)
def test_panel_queries_the_data_source_variable(panel) -> None:
    """Panels and their targets use the ${datasource} variable."""
    assert panel["datasource"]["uid"] == "${datasource}"
    assert {t["datasource"]["uid"] for t in panel["targets"]} == {"${datasource}"}


@pytest.mark.parametrize("query", QUERIES)
def test_query_filters_by_every_variable_its_metric_carries(query) -> None:
    """Each selector matches job, instance, scheduler and, where it has them, executor and job_name.

    Metrics without an executor label follow it through $job_name, which is chained to $executor.
    """
    for selector in selectors(query.expr):
        carried = {"job", "instance", "scheduler"} | (labels_of(selector.metric) & set(VARIABLES))
        expected = {label: ("=~", f"${label}") for label in carried}
        actual = {k: v for k, v in selector.matchers.items() if k in VARIABLES}
        assert actual == expected, selector.metric


@pytest.mark.parametrize("query", QUERIES)
def test_ranges_use_rate_interval_or_the_dashboard_range(query) -> None:
    """Range selectors use $__rate_interval; only instant "in range" totals use $__range."""
    allowed = {"$__rate_interval", "$__range"} if query.instant else {"$__rate_interval"}
    ranges = {s.range for s in selectors(query.expr) if s.range is not None}
    assert ranges <= allowed


@pytest.mark.parametrize("path", BOARDS)
def test_run_duration_and_start_delay_queries_show_exemplars(path) -> None:
    """Latency graphs of the exemplar-carrying histograms show exemplars, to link to traces."""
    targets = [t for p in panels(load_dashboard(path)) for t in p.get("targets", [])]
    latency = [
        t
        for t in targets
        if not t["instant"]
        if "histogram_quantile" in t["expr"] or t["format"] == "heatmap"
        if "run_duration" in t["expr"] or "start_delay" in t["expr"]
    ]
    assert latency
    assert all(t["exemplar"] for t in latency)


def test_job_table_links_each_job_to_its_dashboard() -> None:
    """The job name in the overview's table opens the per-job dashboard for that job."""
    board = load_dashboard(next(p for p in DASHBOARD_FILES if p.name == "obssched-overview.json"))
    (table,) = [p for p in panels(board) if p["type"] == "table"]
    links = [
        link["url"]
        for override in table["fieldConfig"]["overrides"]
        for prop in override["properties"]
        if prop["id"] == "links"
        for link in prop["value"]
    ]
    assert links
    assert all("/d/obssched-job/" in url and "var-job_name=${__value.raw}" in url for url in links)


@pytest.mark.parametrize("path", BOARDS)
def test_job_changes_are_annotated(path) -> None:
    """Jobs added, removed or modified show as annotations."""
    exprs = [a["expr"] for a in load_dashboard(path)["annotations"]["list"] if "expr" in a]
    assert any("job_added|job_removed|job_modified" in expr for expr in exprs)


@pytest.mark.parametrize("path", BOARDS)
def test_panels_do_not_overlap(path) -> None:
    """Grid positions tile the dashboard without two panels on the same cell."""
    taken: set[tuple[int, int]] = set()
    for panel in panels(load_dashboard(path)):
        pos = panel["gridPos"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, panel["title"]
        assert pos["x"] + pos["w"] <= 24
        taken |= cells
