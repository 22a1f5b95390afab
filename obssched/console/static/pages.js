// The console's three pages: the overview (scheduler and jobs), a job's runs and errors, and a
// run's span waterfall. Everything shown is built with text nodes (see console.js's el()).
"use strict";

(function () {
  const c = window.obsschedConsole;
  const { el, fill, byId, duration, relative, clockTime, outcomeBadge, serverClock } = c;

  const OUTCOMES = ["executed", "error", "timeout", "missed", "max_instances", "running"];
  const COUNTS = [
    ["executed", "executed"],
    ["error", "error"],
    ["timeout", "timeout"],
    ["missed", "missed"],
    ["max_instances", "max instances"],
  ];

  function actionsEnabled(scheduler) {
    return scheduler.actions_enabled === true;
  }

  function countsText(counts) {
    const parts = COUNTS.filter(([key]) => (counts || {})[key]).map(
      ([key, label]) => `${counts[key]} ${label}`,
    );
    return parts.length ? parts.join(" · ") : "no runs yet";
  }

  function markers(job) {
    return [
      job.paused ? el("span", { class: "badge paused" }, "paused") : null,
      job.failing ? el("span", { class: "badge failing" }, "failing") : null,
      job.overdue ? el("span", { class: "badge overdue" }, "overdue") : null,
      job.hung ? el("span", { class: "badge hung" }, "hung") : null,
    ];
  }

  function nextRun(job) {
    if (!job.next_run_time) {
      const why = job.paused ? "paused" : job.pending ? "when the scheduler starts" : "none";
      return el("span", { class: "small" }, why);
    }
    return [
      el("span", { class: "nowrap" }, clockTime(job.next_run_time)),
      el("br"),
      el("span", { class: "small" }, relative(job.next_run_in_seconds)),
    ];
  }

  function lastOutcome(job) {
    if (!job.last_outcome) return el("span", { class: "small" }, "—");
    const ago = serverClock.secondsSince(job.last_outcome_time);
    return [
      outcomeBadge(job.last_outcome),
      el("br"),
      el("span", { class: "small", title: job.last_outcome_time || "" }, relative(-ago)),
    ];
  }

  function runningNow(job) {
    const runs = job.running || [];
    if (!runs.length) return "—";
    const longest = Math.max(...runs.map((run) => run.running_for_seconds || 0));
    return [
      el("span", { class: "badge running" }, `${runs.length} running`),
      el("br"),
      el("span", { class: "small" }, `for ${duration(longest)}`),
    ];
  }

  function fact(label, ...value) {
    return el("div", {}, el("dt", {}, label), el("dd", {}, ...value));
  }

  // --- the overview -------------------------------------------------------------------------

  function renderScheduler(data) {
    serverClock.sync(data.now);
    fill(
      byId("scheduler-facts"),
      fact(
        "State",
        el("span", { class: `badge ${data.state === "running" ? "up" : "down"}` }, data.state),
      ),
      fact("Uptime", duration(data.uptime_seconds)),
      fact(
        "Heartbeat",
        c.isNumber(data.heartbeat_age_seconds) ? relative(-data.heartbeat_age_seconds) : "none yet",
      ),
      fact("Version", data.version || "—"),
      fact("Server time", clockTime(data.now)),
    );
    const stores = (data.stores || []).map((store) =>
      el(
        "tr",
        {},
        el("td", {}, el("code", {}, store.alias)),
        el("td", { class: "small" }, store.class),
        el(
          "td",
          {},
          el("span", { class: `badge ${store.up ? "up" : "down"}` }, store.up ? "up" : "down"),
        ),
        el(
          "td",
          { class: "nowrap" },
          c.isNumber(store.last_success_age_seconds)
            ? relative(-store.last_success_age_seconds)
            : "never",
        ),
        el("td", { class: "small" }, store.error || ""),
      ),
    );
    fill(
      byId("stores-body"),
      stores.length
        ? stores
        : el("tr", {}, el("td", { colspan: 5, class: "empty" }, "no job stores")),
    );
    const executors = (data.executors || []).map((executor) =>
      el(
        "tr",
        {},
        el("td", {}, el("code", {}, executor.alias)),
        el("td", { class: "small" }, executor.class),
        el("td", { class: "num" }, executor.running ?? "—"),
        el("td", { class: "num" }, executor.pending ?? "—"),
        el("td", { class: "num" }, executor.max_workers ?? "—"),
      ),
    );
    fill(
      byId("executors-body"),
      executors.length
        ? executors
        : el("tr", {}, el("td", { colspan: 5, class: "empty" }, "no executors")),
    );
    const grafana = byId("grafana-link");
    const dashboard = data.links && data.links.grafana_job_dashboard;
    if (grafana) {
      grafana.hidden = !dashboard;
      if (dashboard) grafana.href = dashboard;
    }
    c.actions.setEnabled(actionsEnabled(data));
  }

  const DEFAULT_VIEW = { sort: "name", order: "asc", q: "", status: "", offset: 0, limit: 50 };

  function readView() {
    const params = new URLSearchParams(location.search);
    const view = { ...DEFAULT_VIEW };
    for (const key of Object.keys(view)) {
      const value = params.get(key);
      if (value === null) continue;
      view[key] =
        typeof DEFAULT_VIEW[key] === "number" ? Math.max(0, parseInt(value, 10) || 0) : value;
    }
    if (!view.limit) view.limit = DEFAULT_VIEW.limit;
    return view;
  }

  function viewQuery(view) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(view)) {
      if (value !== "" && value !== null) params.set(key, String(value));
    }
    return params.toString();
  }

  function jobRow(job, refresh) {
    const row = el(
      "tr",
      { "data-job-id": job.id },
      el(
        "td",
        { class: "name" },
        el("a", { href: c.jobUrl(job.id) }, job.name),
        el("div", {}, markers(job)),
      ),
      el("td", {}, el("code", {}, job.id)),
      el("td", {}, job.trigger),
      el("td", {}, nextRun(job)),
      el("td", {}, lastOutcome(job)),
      el("td", { class: "small" }, countsText(job.counts)),
      el("td", { class: "num" }, `${duration(job.duration_p50)} / ${duration(job.duration_p95)}`),
      el("td", {}, runningNow(job)),
      el("td", { class: "num" }, c.isNumber(job.timeout) ? duration(job.timeout) : "—"),
    );
    for (const flag of ["failing", "overdue", "hung", "paused"])
      row.classList.toggle(flag, Boolean(job[flag]));
    const buttons = c.actions.buttons(job, refresh);
    if (buttons) row.append(el("td", {}, buttons));
    return row;
  }

  function overview() {
    const view = readView();
    const table = byId("jobs");
    const headers = [...table.querySelectorAll("th[data-sort]")];
    const search = byId("q");
    const status = byId("status");
    const limit = byId("limit");
    search.value = view.q;
    status.value = view.status;
    limit.value = String(view.limit);

    const refresher = new c.Refresher(load, 3000);
    const refresh = () => refresher.now();

    function changed() {
      history.replaceState(null, "", "?" + viewQuery(view));
      refresh();
    }

    function showSort() {
      for (const th of headers) {
        th.setAttribute(
          "aria-sort",
          th.dataset.sort === view.sort
            ? view.order === "desc"
              ? "descending"
              : "ascending"
            : "none",
        );
      }
    }

    for (const th of headers) {
      th.tabIndex = 0;
      const choose = () => {
        if (view.sort === th.dataset.sort) view.order = view.order === "asc" ? "desc" : "asc";
        else [view.sort, view.order] = [th.dataset.sort, th.dataset.order || "asc"];
        view.offset = 0;
        showSort();
        changed();
      };
      th.addEventListener("click", choose);
      th.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          choose();
        }
      });
    }
    let typing = null;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        view.q = search.value.trim();
        view.offset = 0;
        changed();
      }, 250);
    });
    byId("filters").addEventListener("submit", (event) => event.preventDefault());
    status.addEventListener("change", () => {
      view.status = status.value;
      view.offset = 0;
      changed();
    });
    limit.addEventListener("change", () => {
      view.limit = parseInt(limit.value, 10) || DEFAULT_VIEW.limit;
      view.offset = 0;
      changed();
    });
    byId("prev").addEventListener("click", () => {
      view.offset = Math.max(0, view.offset - view.limit);
      changed();
    });
    byId("next").addEventListener("click", () => {
      view.offset += view.limit;
      changed();
    });
    c.actions.bindForm();
    showSort();

    async function load() {
      const query = new URLSearchParams({
        sort: view.sort,
        order: view.order,
        offset: view.offset,
        limit: view.limit,
      });
      if (view.q) query.set("q", view.q);
      if (view.status) query.set("status", view.status);
      const [scheduler, jobs] = await Promise.all([
        c.api("api/scheduler"),
        c.api("api/jobs?" + query),
      ]);
      renderScheduler(scheduler);
      const total = jobs.total ?? jobs.jobs.length;
      if (view.offset >= total && total > 0) {
        view.offset = Math.floor((total - 1) / view.limit) * view.limit; // the list shrank
        history.replaceState(null, "", "?" + viewQuery(view));
        refresher.again = true;
      }
      byId("actions-head").hidden = !c.actions.enabled;
      const rows = jobs.jobs.map((job) => jobRow(job, refresh));
      const columns = c.actions.enabled ? 10 : 9;
      const filtered = view.q || view.status;
      fill(
        byId("jobs-body"),
        rows.length
          ? rows
          : el(
              "tr",
              {},
              el(
                "td",
                { colspan: columns, class: "empty" },
                filtered ? "No job matches the filter." : "No jobs scheduled.",
              ),
            ),
      );
      const first = rows.length ? view.offset + 1 : 0;
      const last = view.offset + rows.length;
      byId("page-info").textContent =
        `${first.toLocaleString()}–${last.toLocaleString()} of ${total.toLocaleString()} jobs`;
      byId("jobs-total").textContent = `(${total.toLocaleString()})`;
      byId("prev").disabled = view.offset <= 0;
      byId("next").disabled = last >= total;
    }

    refresh();
  }

  // --- a job's page -------------------------------------------------------------------------

  function runTime(run) {
    return run.started || run.scheduled_run_time;
  }

  function runLabel(run) {
    const took = c.isNumber(run.duration_seconds) ? ` in ${duration(run.duration_seconds)}` : "";
    return `${clockTime(runTime(run))}: ${(run.outcome || "running").replace("_", " ")}${took}`;
  }

  function outcomeOf(run) {
    return OUTCOMES.includes(run.outcome) ? run.outcome : run.outcome ? "missed" : "running";
  }

  function legend() {
    return el(
      "div",
      { class: "legend" },
      OUTCOMES.map((name) =>
        el("span", {}, el("span", { class: `swatch ${name}-fill` }), name.replace("_", " ")),
      ),
    );
  }

  function strip(runs) {
    if (!runs.length) return el("p", { class: "empty" }, "No runs recorded yet.");
    return el(
      "div",
      { class: "strip", role: "list", "aria-label": "runs, oldest first" },
      runs.map((run) =>
        el("a", {
          class: `run ${outcomeOf(run)}-fill`,
          role: "listitem",
          href: c.runUrl(run.run_id),
          title: runLabel(run),
          "aria-label": runLabel(run),
          "data-outcome": run.outcome || "running",
        }),
      ),
    );
  }

  function chart(runs, p95) {
    const timed = runs.filter((run) => c.isNumber(run.duration_seconds));
    if (!timed.length) return el("p", { class: "empty" }, "No finished run to chart yet.");
    const [width, height, left, right, top, bottom] = [800, 180, 64, 8, 10, 22];
    const plotWidth = width - left - right;
    const plotHeight = height - top - bottom;
    const peak =
      Math.max(...timed.map((run) => run.duration_seconds), c.isNumber(p95) ? p95 : 0) * 1.1 || 1;
    const y = (seconds) => top + plotHeight - (seconds / peak) * plotHeight;
    const slot = Math.min(plotWidth / runs.length, 40);
    const root = c.svg("svg", {
      class: "chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": `durations of the last ${runs.length} runs`,
    });
    root.append(
      c.svg("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }),
      c.svg("line", {
        class: "axis",
        x1: left,
        x2: width - right,
        y1: y(peak / 2),
        y2: y(peak / 2),
      }),
      c.svg("text", { x: left - 6, y: y(0) + 4, "text-anchor": "end" }, "0"),
      c.svg("text", { x: left - 6, y: y(peak / 2) + 4, "text-anchor": "end" }, duration(peak / 2)),
      c.svg("text", { x: left - 6, y: top + 10, "text-anchor": "end" }, duration(peak)),
      c.svg("text", { x: left, y: height - 4 }, "oldest"),
      c.svg("text", { x: width - right, y: height - 4, "text-anchor": "end" }, "newest"),
    );
    runs.forEach((run, index) => {
      const seconds = c.isNumber(run.duration_seconds) ? run.duration_seconds : 0;
      const barHeight = Math.max(2, y(0) - y(seconds));
      const link = c.svg("a", { href: c.runUrl(run.run_id) });
      link.append(
        c.svg(
          "rect",
          {
            class: `${outcomeOf(run)}-fill`,
            x: left + index * slot + slot * 0.1,
            y: y(0) - barHeight,
            width: Math.max(1, slot * 0.8),
            height: barHeight,
          },
          c.svg("title", {}, runLabel(run)),
        ),
      );
      root.append(link);
    });
    if (c.isNumber(p95)) {
      root.append(
        c.svg("line", { class: "p95", x1: left, x2: width - right, y1: y(p95), y2: y(p95) }),
        c.svg(
          "text",
          { x: width - right, y: y(p95) - 4, "text-anchor": "end" },
          `p95 ${duration(p95)}`,
        ),
      );
    }
    return root;
  }

  function traceCell(run) {
    if (!run.trace_id) return "—";
    const id = el("code", {}, run.trace_id.slice(0, 16) + (run.trace_id.length > 16 ? "…" : ""));
    return [
      run.trace_url
        ? el("a", { href: run.trace_url, title: run.trace_id, rel: "noreferrer" }, id)
        : el("span", { title: run.trace_id }, id),
      run.spans_kept === false
        ? null
        : [" ", el("a", { href: c.runUrl(run.run_id), class: "small" }, "spans")],
    ];
  }

  function runRow(run) {
    return el(
      "tr",
      {
        class: run.outcome === "error" || run.outcome === "timeout" ? "failing" : null,
        "data-run-id": run.run_id,
      },
      el(
        "td",
        { class: "nowrap" },
        clockTime(run.started || run.scheduled_run_time),
        run.started ? null : el("span", { class: "small" }, " (scheduled)"),
      ),
      el("td", { class: "num" }, duration(run.delay_seconds)),
      el("td", { class: "num" }, duration(run.duration_seconds)),
      el(
        "td",
        {},
        outcomeBadge(run.outcome || "running"),
        run.error ? el("div", { class: "small" }, run.error) : null,
      ),
      el("td", { class: "small" }, run.node || "—"),
      el("td", { class: "nowrap" }, traceCell(run)),
    );
  }

  function errorEntry(error) {
    return el(
      "article",
      { class: "error-entry" },
      el("h3", {}, `${error.exception_type || "Error"}: ${error.message || ""}`),
      el(
        "div",
        { class: "small" },
        clockTime(error.time),
        error.run_id
          ? [" · run ", el("a", { href: c.runUrl(error.run_id) }, el("code", {}, error.run_id))]
          : null,
      ),
      el("pre", { class: "traceback" }, error.traceback || "(no traceback kept)"),
    );
  }

  function renderJobHead(job, refresh) {
    document.title = `${job.name} · obssched console`;
    fill(byId("job-name"), job.name);
    fill(byId("job-markers"), markers(job));
    const facts = [
      fact("ID", el("code", {}, job.id)),
      fact("Trigger", job.trigger),
      fact("Next run", nextRun(job)),
      fact("Last outcome", lastOutcome(job)),
      fact("Runs", countsText(job.counts)),
      fact("Duration p50 / p95", `${duration(job.duration_p50)} / ${duration(job.duration_p95)}`),
      fact("Running now", runningNow(job)),
      fact("Timeout", c.isNumber(job.timeout) ? duration(job.timeout) : "none"),
    ];
    if ("args" in job || "kwargs" in job) {
      const kwargs = Object.entries(job.kwargs || {}).map(
        ([key, value]) => `${key}=${JSON.stringify(value)}`,
      );
      const shown = [...(job.args || []).map((value) => JSON.stringify(value)), ...kwargs];
      facts.push(fact("Arguments", el("code", {}, shown.length ? shown.join(", ") : "none")));
    }
    fill(byId("job-facts"), facts);
    const links = [];
    if (job.grafana_url)
      links.push(el("a", { href: job.grafana_url, rel: "noreferrer" }, "Grafana job dashboard"));
    fill(byId("job-links"), links);
    fill(byId("job-actions"), c.actions.buttons(job, refresh));
  }

  function jobPage() {
    const jobId = c.pathTail();
    fill(byId("job-name"), jobId);
    c.actions.bindForm();
    const refresher = new c.Refresher(load, 5000);
    const refresh = (action) => {
      if (action === "remove") {
        c.say(`Removed job ${jobId}. Its runs stay listed until they age out.`, false);
      }
      refresher.now();
    };

    async function load() {
      const scheduler = await c.api("api/scheduler");
      serverClock.sync(scheduler.now);
      c.actions.setEnabled(actionsEnabled(scheduler));
      const [job, runs] = await Promise.all([
        c.api(`api/jobs/${encodeURIComponent(jobId)}`).catch((error) => error),
        c.api(`api/jobs/${encodeURIComponent(jobId)}/runs`).catch((error) => error),
      ]);
      if (job instanceof c.ApiError) {
        if (job.status !== 404) throw job;
        fill(byId("job-markers"), el("span", { class: "badge down" }, "not scheduled"));
        fill(
          byId("job-facts"),
          fact("ID", el("code", {}, jobId)),
          fact("Status", "no job with this id is scheduled (it ended or was removed)"),
        );
        fill(byId("job-actions"));
        fill(byId("fire-times"), el("li", { class: "empty" }, "none"));
        fill(byId("errors"), el("p", { class: "empty" }, "No errors kept."));
      } else {
        renderJobHead(job, refresh);
        const times = job.next_fire_times || [];
        fill(
          byId("fire-times"),
          times.length
            ? times.map((time) =>
                el(
                  "li",
                  {},
                  clockTime(time),
                  " ",
                  el("span", { class: "small" }, relative(-serverClock.secondsSince(time))),
                ),
              )
            : el("li", { class: "empty" }, job.paused ? "none while paused" : "none"),
        );
        const errors = job.errors || [];
        fill(
          byId("errors"),
          errors.length ? errors.map(errorEntry) : el("p", { class: "empty" }, "No errors kept."),
        );
      }
      if (runs instanceof c.ApiError && runs.status !== 404) throw runs;
      const list = runs instanceof c.ApiError ? [] : [...(runs.runs || [])];
      const oldestFirst = list
        .slice()
        .sort((a, b) => String(runTime(a)).localeCompare(String(runTime(b))));
      const newestFirst = oldestFirst.slice().reverse();
      fill(byId("runs-count"), `(${list.length})`);
      fill(byId("run-strip"), legend(), strip(oldestFirst));
      fill(
        byId("duration-chart"),
        chart(oldestFirst, job instanceof c.ApiError ? null : job.duration_p95),
      );
      fill(
        byId("runs-body"),
        newestFirst.length
          ? newestFirst.map(runRow)
          : el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No runs recorded yet.")),
      );
    }

    refresher.now();
  }

  // --- a run's page -------------------------------------------------------------------------

  /** Order spans depth first, each parent before its children, siblings by start. */
  function spanTree(spans) {
    const ids = new Set(spans.map((span) => span.span_id));
    const children = new Map();
    const roots = [];
    for (const span of spans) {
      if (span.parent_span_id && ids.has(span.parent_span_id)) {
        if (!children.has(span.parent_span_id)) children.set(span.parent_span_id, []);
        children.get(span.parent_span_id).push(span);
      } else {
        roots.push(span);
      }
    }
    const byStart = (a, b) => (a.start_offset_ms || 0) - (b.start_offset_ms || 0);
    const ordered = [];
    const visit = (span, depth) => {
      ordered.push({ span, depth });
      for (const child of (children.get(span.span_id) || []).sort(byStart)) visit(child, depth + 1);
    };
    for (const root of roots.sort(byStart)) visit(root, 0);
    return ordered;
  }

  function attributesTable(span) {
    const rows = Object.entries(span.attributes || {}).map(([key, value]) =>
      el(
        "tr",
        {},
        el("td", {}, key),
        el("td", {}, el("code", {}, typeof value === "string" ? value : JSON.stringify(value))),
      ),
    );
    return [
      el("h3", {}, span.name),
      el(
        "p",
        { class: "small" },
        `starts at +${c.milliseconds(span.start_offset_ms)}, lasts ${c.milliseconds(span.duration_ms)}, status ${span.status || "unset"}`,
      ),
      el(
        "table",
        { class: "attributes" },
        el(
          "tbody",
          {},
          rows.length ? rows : el("tr", {}, el("td", { class: "empty" }, "no attributes")),
        ),
      ),
    ];
  }

  function waterfall(spans) {
    const total = Math.max(
      1,
      ...spans.map((span) => (span.start_offset_ms || 0) + (span.duration_ms || 0)),
    );
    const percent = (ms) => `${Math.min(100, Math.max(0, (ms / total) * 100))}%`;
    const grid = el("div", { class: "waterfall", role: "table", "aria-label": "spans of the run" });
    const axis = el("div", { class: "axis-track" });
    [0, 0.25, 0.5, 0.75, 1].forEach((share, index, all) => {
      const tick = el(
        "span",
        { class: `tick${index === 0 ? " first" : index === all.length - 1 ? " last" : ""}` },
        c.milliseconds(total * share),
      );
      tick.style.left = `${share * 100}%`;
      axis.append(tick);
    });
    grid.append(
      el("div", { class: "head", role: "columnheader" }, "Span"),
      el("div", { class: "head", role: "columnheader" }, axis),
      el("div", { class: "head num", role: "columnheader" }, "Duration"),
      el("div", { class: "head num", role: "columnheader" }, "Share"),
    );
    const detail = byId("span-detail");
    let selected = [];
    for (const { span, depth } of spanTree(spans)) {
      const name = el(
        "div",
        { class: "span-name", role: "cell", title: span.name, "data-depth": depth },
        span.name,
      );
      name.style.paddingLeft = `${0.4 + depth * 1.2}em`;
      const bar = el("div", {
        class: `bar${span.status === "error" || span.status === "ERROR" ? " error" : ""}`,
        title: `${span.name}: ${c.milliseconds(span.duration_ms)} from +${c.milliseconds(span.start_offset_ms)}`,
      });
      bar.style.left = percent(span.start_offset_ms || 0);
      bar.style.width = percent(span.duration_ms || 0);
      const track = el("div", { class: "track", role: "cell" }, bar);
      const cells = [
        name,
        track,
        el("div", { class: "num", role: "cell" }, c.milliseconds(span.duration_ms)),
        el(
          "div",
          { class: "num small", role: "cell" },
          `${Math.round(((span.duration_ms || 0) / total) * 100)}%`,
        ),
      ];
      const choose = () => {
        for (const cell of selected) cell.classList.remove("selected");
        selected = cells;
        for (const cell of cells) cell.classList.add("selected");
        fill(detail, attributesTable(span));
      };
      name.addEventListener("click", choose);
      track.addEventListener("click", choose);
      const row = el("div", { class: "span-row", role: "row", "data-span-id": span.span_id });
      row.style.display = "contents";
      row.append(...cells);
      grid.append(row);
    }
    return grid;
  }

  /** From the root down, the longest child at each level: where most of the run's time went. */
  function hotPath(ordered) {
    const path = [];
    for (let index = 0; index < ordered.length;) {
      const { span, depth } = ordered[index];
      path.push(span);
      let longest = null;
      for (let next = index + 1; next < ordered.length && ordered[next].depth > depth; next++) {
        const entry = ordered[next];
        if (
          entry.depth === depth + 1 &&
          (!longest || (entry.span.duration_ms || 0) > (ordered[longest].span.duration_ms || 0))
        ) {
          longest = next;
        }
      }
      if (longest === null) break;
      index = longest;
    }
    return path;
  }

  async function runPage() {
    const runId = c.pathTail();
    fill(byId("run-id"), runId);
    const [scheduler, data] = await Promise.all([
      c.api("api/scheduler").catch(() => ({})),
      c.api(`api/runs/${encodeURIComponent(runId)}/spans`).catch((error) => error),
    ]);
    if (data instanceof c.ApiError) {
      fill(
        byId("run-facts"),
        fact(
          "Spans",
          data.status === 404
            ? "none kept for this run: only the slowest and the failing recent runs keep their spans, and only while tracing is on"
            : data.message,
        ),
      );
      return;
    }
    const spans = data.spans || [];
    const ordered = spanTree(spans);
    const root = ordered.length ? ordered[0].span : null;
    const jobId = root && root.attributes && root.attributes["obssched.job.id"];
    const template = scheduler.links && scheduler.links.trace_url_template;
    const traceId = data.trace_id || "—";
    const facts = [
      fact("Job", jobId ? el("a", { href: c.jobUrl(jobId) }, jobId) : "—"),
      fact(
        "Trace",
        template && data.trace_id
          ? el(
              "a",
              {
                href: template.split("{trace_id}").join(encodeURIComponent(data.trace_id)),
                rel: "noreferrer",
              },
              el("code", {}, traceId),
            )
          : el("code", {}, traceId),
      ),
      fact("Spans", String(spans.length)),
      fact("Run took", root ? c.milliseconds(root.duration_ms) : "—"),
    ];
    fill(byId("run-facts"), facts);
    const path = hotPath(ordered);
    const hot = path[path.length - 1];
    if (path.length > 1 && root && root.duration_ms) {
      const share = Math.round(((hot.duration_ms || 0) / root.duration_ms) * 100);
      fill(
        byId("hot-path"),
        "Most of the time went to ",
        el("strong", {}, hot.name),
        `: ${c.milliseconds(hot.duration_ms)}, ${share}% of the run (`,
        path.map((span) => span.name).join(" › "),
        ").",
      );
    }
    fill(
      byId("waterfall"),
      spans.length ? waterfall(spans) : el("p", { class: "empty" }, "No spans kept for this run."),
    );
  }

  const pages = { overview, job: jobPage, run: runPage };
  const page = pages[document.body.dataset.page];
  if (page) {
    Promise.resolve(page()).catch((error) =>
      c.say(`Could not load the page: ${error.message}`, true),
    );
  }
})();
