// weir's dashboard: generic over any rule. Reads the query API once, then
// follows /api/v1/events (Server-Sent Events) for the windows each
// checkpoint changed. Numbers are kept as the text the server sent (a
// reviver reads each JSON number's source), so decimals show every digit.
"use strict";

const SERIES_WINDOWS = 60;   // windows per line chart
const MAX_LINES = 5;         // more groups than this: a top-N table instead
const TOP_N = 10;
const COLORS = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099"];

const charts = new Map();    // "rule/metric/size" -> view

function exactJson(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === "number" && context && context.source !== undefined ? context.source : value);
}

async function get(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return exactJson(await response.text());
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value; else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function time(secs) {
  return new Date(Number(secs) * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function showRules(rules) {
  const body = document.querySelector("#rules tbody");
  body.replaceChildren();
  for (const rule of rules) {
    const s = rule.stats;
    const state = rule.state === "quarantined"
      ? `quarantined (${Math.round(Number(rule.quarantined_for_ms) / 1000)} s left)` : rule.state;
    const cell = (field, value) => el("td", { "data-rule": rule.name, "data-field": field }, String(value));
    body.append(el("tr", {},
      el("td", {}, rule.name),
      el("td", { title: rule.version_hash }, `${rule.version} ${String(rule.version_hash).slice(0, 8)}`),
      el("td", { class: `state-${rule.state}` }, state),
      cell("records_in", s.records_in), cell("updates", s.updates), cell("rejected", s.rejected),
      cell("late", s.late), cell("dead_lettered", s.dead_lettered), cell("quarantined", s.quarantined),
      cell("reloads", rule.reloads)));
  }
}

function showAlerts(alerts) {
  const body = document.querySelector("#alerts tbody");
  if (!alerts.length) return;
  body.replaceChildren();
  for (const a of alerts) {
    body.append(el("tr", {}, el("td", {}, time(Number(String(a.id).split("-")[0]) / 1000)),
      el("td", {}, a.rule), el("td", {}, a.metric), el("td", {}, a.group),
      el("td", {}, `${time(a.window_start)} (${a.window_secs} s)`),
      el("td", {}, String(a.value)), el("td", {}, String(a.threshold))));
  }
}

// One metric window shape: a line chart (few groups), a top-N table (many
// groups) or a "so far" counter (cumulative windows).
class View {
  constructor(rule, metric, window, parent) {
    Object.assign(this, { rule, metric, size: Number(window.size_secs), kind: window.window });
    this.cumulative = this.kind.startsWith("c");
    this.windows = new Map();  // start -> {final, values}
    this.node = el("div", { class: "card", "data-view": `${rule}/${metric}/${this.size}` });
    parent.append(this.node);
  }

  key() { return `${this.rule}/${this.metric}/${this.size}`; }

  merge(windows) {
    for (const w of windows) this.windows.set(Number(w.start), { final: w.final, values: w.values });
    const starts = [...this.windows.keys()].sort((a, b) => a - b);
    for (const start of starts.slice(0, Math.max(0, starts.length - SERIES_WINDOWS))) this.windows.delete(start);
  }

  starts() { return [...this.windows.keys()].sort((a, b) => a - b); }

  groups() {
    const groups = new Set();
    for (const w of this.windows.values()) for (const g of Object.keys(w.values)) groups.add(g);
    return [...groups].sort();
  }

  latestValues(start) {
    const w = this.windows.get(start);
    return Object.entries(w.values).map(([group, value]) => el("span", {
      class: "value", "data-rule": this.rule, "data-metric": this.metric, "data-window": String(this.size),
      "data-start": String(start), "data-group": group, "data-final": String(w.final),
    }, String(value)));
  }

  render() {
    const starts = this.starts();
    this.node.replaceChildren();
    const title = `${this.rule} · ${this.metric} · ${this.cumulative ? "so far" : this.size + " s"}`;
    this.node.append(el("h3", {}, title));
    if (!starts.length) { this.node.append(el("div", { class: "label" }, "no windows yet")); return; }
    const last = starts[starts.length - 1];
    const groups = this.groups();
    if (this.cumulative) {
      this.node.classList.add("counter");
      const values = this.latestValues(last);
      for (const value of values.slice(0, MAX_LINES)) {
        this.node.append(el("div", {}, value, " ", el("span", { class: "label" }, value.dataset.group)));
      }
      this.node.append(el("div", { class: "label" }, `since ${time(last)}`));
      return;
    }
    if (groups.length > MAX_LINES) { this.renderTop(last); return; }
    this.renderChart(starts, groups);
    const latest = el("div", { class: "latest label" }, `window ${time(last)}: `);
    for (const value of this.latestValues(last)) latest.append(el("span", {}, `${value.dataset.group} `, value, "  "));
    this.node.append(latest);
  }

  renderChart(starts, groups) {
    const data = [starts];
    for (const group of groups) {
      data.push(starts.map(start => {
        const value = this.windows.get(start).values[group];
        return value === undefined ? null : Number(value);
      }));
    }
    const series = [{}].concat(groups.map((group, i) => ({ label: group, stroke: COLORS[i % COLORS.length], width: 2 })));
    const chart = el("div", { class: "chart" });
    this.node.append(chart);
    new uPlot({ width: 560, height: 220, series, scales: { x: { time: true } } }, data, chart);
  }

  async renderTop(last) {
    let top;
    try {
      top = (await get(`/api/v1/rules/${this.rule}/metrics/${this.metric}/${this.size}/top?last=1&limit=${TOP_N}`)).windows;
    } catch (error) { return; }
    if (!top.length) return;
    const w = top[top.length - 1];
    const table = el("table", { class: "top" }, el("tr", {}, el("th", {}, "group"), el("th", {}, "value")));
    for (const ranked of w.top) {
      table.append(el("tr", {}, el("td", {}, ranked.group), el("td", {}, el("span", {
        class: "value", "data-rule": this.rule, "data-metric": this.metric, "data-window": String(this.size),
        "data-start": String(w.start), "data-group": ranked.group, "data-final": String(w.final),
      }, String(ranked.value)))));
    }
    this.node.append(el("div", { class: "label" }, `top ${TOP_N}, window ${time(w.start)}`), table);
  }
}

async function load() {
  const rules = await get("/api/v1/rules");
  showRules(rules);
  const metrics = document.getElementById("metrics");
  for (const rule of rules) {
    let catalog;
    try { catalog = await get(`/api/v1/rules/${rule.name}/metrics`); } catch (error) { continue; }
    const section = el("section", { class: "rule" }, el("h2", {}, rule.name));
    const cards = el("div", { class: "cards" });
    section.append(cards);
    metrics.append(section);
    for (const [metric, entry] of Object.entries(catalog)) {
      // Cumulative "so far" counters first, then the charts.
      const windows = [...entry.windows].sort((a, b) => (b.window.startsWith("c") ? 1 : 0) - (a.window.startsWith("c") ? 1 : 0));
      for (const window of windows) {
        const view = new View(rule.name, metric, window, cards);
        charts.set(view.key(), view);
        try {
          const answer = await get(`/api/v1/rules/${rule.name}/metrics/${metric}/${view.size}?last=${view.cumulative ? 1 : SERIES_WINDOWS}`);
          view.merge(answer.windows);
        } catch (error) { /* shown as "no windows yet" */ }
        view.render();
      }
    }
  }
  try { showAlerts((await get("/api/v1/alerts?last=20")).alerts); } catch (error) { /* none */ }
  document.getElementById("updated").textContent = `loaded ${new Date().toISOString()}`;
  document.body.dataset.ready = "1";
}

function follow() {
  const badge = document.getElementById("live");
  const events = new EventSource("/api/v1/events");
  events.onopen = () => { badge.textContent = "live"; badge.classList.add("on"); };
  events.onerror = () => { badge.textContent = "reconnecting"; badge.classList.remove("on"); };
  events.addEventListener("rules", event => showRules(exactJson(event.data)));
  events.addEventListener("windows", event => {
    const change = exactJson(event.data);
    const view = charts.get(`${change.rule}/${change.metric}/${Number(change.window_secs)}`);
    if (!view) return;
    view.merge(change.windows);
    view.render();
    document.getElementById("updated").textContent = `updated ${new Date().toISOString()}`;
  });
}

load().catch(error => {
  document.getElementById("updated").textContent = `error: ${error.message}`;
  document.body.dataset.ready = "error";
}).finally(() => {
  if (new URLSearchParams(location.search).get("live") !== "0") follow();
  else document.getElementById("live").textContent = "snapshot";
});
