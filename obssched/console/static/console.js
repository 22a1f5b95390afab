// The operations console's shared helpers: DOM building (text only, never HTML from data), the
// JSON API, formatting, the in-place refresh and the token-protected job actions.
"use strict";

(function () {
  // The console's root, from this script's own address (<root>/static/console.js), so that the
  // pages work wherever the app is mounted.
  const BASE = new URL("..", document.currentScript.src);
  const TOKEN_KEY = "obssched.console.token";

  /** Build an element: attrs holds attributes ("class", "href", "title", ...), children are
   * nodes or strings (added as text, so data is never parsed as HTML). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    return append(node, children);
  }

  /** Replace a node's children. */
  function fill(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function url(path) {
    return new URL(path, BASE).toString();
  }

  function jobUrl(jobId) {
    return url("jobs/" + encodeURIComponent(jobId));
  }

  function runUrl(runId) {
    return url("runs/" + encodeURIComponent(runId));
  }

  /** The last segment of this page's path, decoded: the job id or run id it shows. */
  function pathTail() {
    const parts = location.pathname.split("/");
    return decodeURIComponent(parts[parts.length - 1]);
  }

  class ApiError extends Error {
    constructor(status, text) {
      super(status ? `${status}: ${text}` : text);
      this.status = status;
      this.text = text;
    }
  }

  async function api(path, options) {
    let response;
    try {
      response = await fetch(url(path), {
        credentials: "same-origin",
        cache: "no-store",
        ...options,
        headers: { Accept: "application/json", ...((options && options.headers) || {}) },
      });
    } catch (error) {
      throw new ApiError(0, "the console's server did not answer (" + error.message + ")");
    }
    const text = await response.text();
    if (!response.ok) throw new ApiError(response.status, errorText(text) || response.statusText);
    return text ? JSON.parse(text) : {};
  }

  function errorText(text) {
    try {
      const data = JSON.parse(text);
      return data.error || data.message || data.detail || text.trim();
    } catch (error) {
      return text.trim();
    }
  }

  // --- formatting ---------------------------------------------------------------------------

  function isNumber(value) {
    return typeof value === "number" && Number.isFinite(value);
  }

  /** "850 ms", "1.24 s", "3 min 2 s", "2 h 5 min", "3 d 4 h". */
  function duration(seconds) {
    if (!isNumber(seconds)) return "—";
    const abs = Math.abs(seconds);
    if (abs === 0) return "0 ms";
    if (abs < 0.01) return `${(seconds * 1000).toFixed(2)} ms`;
    if (abs < 1) return `${Math.round(seconds * 1000)} ms`;
    if (abs < 10) return `${seconds.toFixed(2)} s`;
    if (abs < 60) return `${seconds.toFixed(1)} s`;
    const whole = Math.round(abs);
    const sign = seconds < 0 ? "-" : "";
    if (whole < 3600) return `${sign}${Math.floor(whole / 60)} min ${whole % 60} s`;
    if (whole < 86400)
      return `${sign}${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
    return `${sign}${Math.floor(whole / 86400)} d ${Math.floor((whole % 86400) / 3600)} h`;
  }

  function milliseconds(ms) {
    return isNumber(ms) ? duration(ms / 1000) : "—";
  }

  /** A span of time relative to now: "in 3 s", "3 s ago", "now". */
  function relative(seconds) {
    if (!isNumber(seconds)) return "";
    if (Math.abs(seconds) < 0.5) return "now";
    return seconds > 0 ? `in ${duration(seconds)}` : `${duration(-seconds)} ago`;
  }

  /** An ISO 8601 time as the server sent it, shortened: "2026-12-07 01:42:03 +01:00". */
  function clockTime(iso) {
    if (!iso) return "—";
    const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$/.exec(iso);
    if (!match) return String(iso);
    const zone = match[3] === "Z" ? "UTC" : match[3] || "";
    return `${match[1]} ${match[2]}${zone ? " " + zone : ""}`;
  }

  /** The server's clock, from the offset measured at the last /api/scheduler answer. */
  const serverClock = {
    offsetMs: 0,
    sync(serverNowIso) {
      const parsed = Date.parse(serverNowIso);
      if (!Number.isNaN(parsed)) this.offsetMs = parsed - Date.now();
    },
    secondsSince(iso) {
      const parsed = Date.parse(iso);
      if (!iso || Number.isNaN(parsed)) return null;
      return (Date.now() + this.offsetMs - parsed) / 1000;
    },
  };

  function outcomeBadge(outcome) {
    if (!outcome) return el("span", { class: "small" }, "no runs yet");
    return el("span", { class: `badge ${outcome}` }, outcome.replace("_", " "));
  }

  // --- refresh in place ---------------------------------------------------------------------

  /** Calls load() now and every `every` ms until paused; the top bar's button pauses it. */
  class Refresher {
    constructor(load, every) {
      this.load = load;
      this.every = every;
      this.paused = false;
      this.timer = null;
      this.busy = false;
      this.button = byId("refresh-toggle");
      this.state = byId("refresh-state");
      if (this.button) this.button.addEventListener("click", () => this.toggle());
    }

    async now() {
      if (this.busy) {
        this.again = true; // the view changed while a load was on its way: load once more after
        return;
      }
      this.busy = true;
      this.again = false;
      clearTimeout(this.timer);
      try {
        await this.load();
        this.show(`updated ${new Date().toLocaleTimeString()}`, false);
      } catch (error) {
        this.show(`could not refresh: ${error.message}`, true);
      } finally {
        this.busy = false;
        if (this.again) this.now();
        else this.schedule();
      }
    }

    schedule() {
      clearTimeout(this.timer);
      if (!this.paused) this.timer = setTimeout(() => this.now(), this.every);
    }

    toggle() {
      this.paused = !this.paused;
      if (this.button) {
        this.button.textContent = this.paused ? "Resume refresh" : "Pause refresh";
        this.button.setAttribute("aria-pressed", String(this.paused));
      }
      if (this.paused) {
        clearTimeout(this.timer);
        this.show("refresh paused", false);
      } else {
        this.now();
      }
    }

    show(text, stale) {
      if (!this.state) return;
      this.state.textContent = text;
      this.state.parentElement.classList.toggle("stale", stale);
    }
  }

  // --- messages -----------------------------------------------------------------------------

  function say(text, isError) {
    const node = byId("message");
    if (!node) return;
    node.textContent = text;
    node.classList.toggle("error", Boolean(isError));
  }

  // --- actions ------------------------------------------------------------------------------

  const ACTIONS = {
    pause: { label: "Pause", done: "Paused" },
    resume: { label: "Resume", done: "Resumed" },
    run: { label: "Run now", done: "Started a run of" },
    remove: { label: "Remove", done: "Removed" },
  };

  const actions = {
    enabled: false,

    token() {
      try {
        return sessionStorage.getItem(TOKEN_KEY) || "";
      } catch (error) {
        return "";
      }
    },

    /** Show or hide the token form, from what the server says (actions enabled or not). */
    setEnabled(enabled) {
      this.enabled = Boolean(enabled);
      const panel = byId("token-panel");
      if (panel) panel.hidden = !this.enabled;
      this.showTokenState();
    },

    showTokenState() {
      const state = byId("token-state");
      if (state) {
        state.textContent = this.token()
          ? "A token is kept for this tab; actions send it."
          : "No token entered: the server refuses actions without one.";
      }
    },

    /** Wire the token form (once per page). */
    bindForm() {
      const form = byId("token-form");
      if (!form) return;
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const input = byId("token");
        const value = input.value.trim();
        try {
          if (value) sessionStorage.setItem(TOKEN_KEY, value);
        } catch (error) {
          say("This browser does not keep the token (sessionStorage is off).", true);
        }
        input.value = "";
        this.showTokenState();
      });
      byId("token-forget").addEventListener("click", () => {
        try {
          sessionStorage.removeItem(TOKEN_KEY);
        } catch (error) {
          /* nothing kept, nothing to forget */
        }
        this.showTokenState();
      });
    },

    /** The buttons a job offers a person: pause or resume, run now, remove. */
    buttons(job, after) {
      if (!this.enabled) return null;
      const names = [job.paused ? "resume" : "pause", "run", "remove"];
      return el(
        "div",
        { class: "actions" },
        names.map((name) => {
          const button = el(
            "button",
            { type: "button", class: name === "remove" ? "danger" : null, "data-action": name },
            ACTIONS[name].label,
          );
          button.addEventListener("click", () => this.perform(job, name, button, after));
          return button;
        }),
      );
    },

    async perform(job, name, button, after) {
      const label = `"${job.name}" (${job.id})`;
      if (name === "remove" && !window.confirm(`Remove job ${label}? This cannot be undone.`))
        return;
      const token = this.token();
      const headers = token ? { Authorization: "Bearer " + token } : {};
      button.disabled = true;
      try {
        await api(`api/jobs/${encodeURIComponent(job.id)}/${name}`, { method: "POST", headers });
        say(`${ACTIONS[name].done} job ${label}.`, false);
        if (after) after(name);
      } catch (error) {
        const why = error.status === 403 ? "refused" : "failed";
        say(`${ACTIONS[name].label} ${why} for job ${label}: ${error.message}`, true);
      } finally {
        button.disabled = false;
      }
    },
  };

  window.obsschedConsole = {
    BASE,
    ApiError,
    actions,
    api,
    append,
    byId,
    clockTime,
    duration,
    el,
    fill,
    isNumber,
    jobUrl,
    milliseconds,
    outcomeBadge,
    pathTail,
    Refresher,
    relative,
    runUrl,
    say,
    serverClock,
    svg,
    url,
  };
})();
