// pyecs console: renders the server's state events (server-sent events from ./events).
// Written for this page alone: no framework, no CDN. Text goes in through textContent only.
"use strict";

const WINDOW_SECONDS = 600; // the charts show the last ten minutes

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function status(value) {
  return el("span", { class: "s-" + value }, value);
}

function table(headers, rows) {
  const head = el("tr", {}, ...headers.map((h) => el("th", {}, h)));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
}

function taskRows(tasks) {
  return tasks.map((t) =>
    el("tr", { class: "task", "data-task-id": t.id, "data-status": t.lastStatus },
      el("td", { class: "mono" }, t.id.slice(0, 12)),
      el("td", {}, status(t.lastStatus)),
      el("td", {}, status(t.healthStatus)),
      el("td", {}, t.taskDefinition),
      el("td", { class: "mono" }, t.containerInstance),
      el("td", { class: "mono" }, t.ports.join(" ")),
    ));
}

const TASK_HEADERS = ["task", "status", "health", "task definition", "instance", "ports"];

function drawChart(canvas, chart, now) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 260, h = canvas.clientHeight || 110;
  canvas.width = w * ratio; canvas.height = h * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  const pts = chart.points.filter((p) => p[0] >= now - WINDOW_SECONDS);
  let top = 1;
  for (const p of pts) top = Math.max(top, p[1]);
  top *= 1.15;
  const left = 34, bottom = h - 14;
  g.strokeStyle = "#d9dde5"; g.fillStyle = "#667085"; g.font = "10px sans-serif";
  for (const f of [0, 0.5, 1]) {
    const y = bottom - f * (bottom - 4);
    g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
    g.fillText((top * f).toFixed(top * f >= 10 ? 0 : 1), 2, y + 3);
  }
  g.fillText("-10 min", left, h - 2); g.fillText("now", w - 22, h - 2);
  if (!pts.length) { g.fillText("no data yet", left + 40, bottom / 2); return; }
  const x = (t) => left + ((t - (now - WINDOW_SECONDS)) / WINDOW_SECONDS) * (w - left);
  const y = (v) => bottom - (v / top) * (bottom - 4);
  const step = chart.metric === "DesiredTaskCount";
  g.strokeStyle = step ? "#b35900" : "#2563eb"; g.lineWidth = 1.6;
  g.beginPath();
  pts.forEach((p, i) => {
    if (i === 0) g.moveTo(x(p[0]), y(p[1]));
    else {
      if (step) g.lineTo(x(p[0]), y(pts[i - 1][1]));
      g.lineTo(x(p[0]), y(p[1]));
    }
  });
  g.stroke();
}

function renderService(svc, now) {
  const card = el("article", { class: "service", "data-service": svc.name });
  card.append(el("h3", {}, svc.name + " ", status(svc.status), " ",
    el("span", { class: "mono" }, svc.taskDefinition)));
  card.append(el("div", { class: "counts" },
    el("div", {}, el("b", { class: "desired" }, svc.desiredCount), el("span", {}, "desired")),
    el("div", {}, el("b", { class: "running" }, svc.runningCount), el("span", {}, "running")),
    el("div", {}, el("b", { class: "pending" }, svc.pendingCount), el("span", {}, "pending"))));
  card.append(table(["deployment", "status", "task definition", "desired", "running",
    "pending", "failed", "rollout"], svc.deployments.map((d) => el("tr", {},
      el("td", { class: "mono" }, d.id), el("td", {}, d.status), el("td", {}, d.taskDefinition),
      el("td", {}, d.desiredCount), el("td", {}, d.runningCount), el("td", {}, d.pendingCount),
      el("td", {}, d.failedTasks),
      el("td", { title: d.rolloutStateReason }, status(d.rolloutState))))));
  const charts = el("div", { class: "charts" });
  const pending = [];
  for (const chart of svc.charts) {
    const last = chart.points.length ? chart.points[chart.points.length - 1][1] : null;
    const canvas = el("canvas", { "data-metric": chart.metric });
    charts.append(el("figure", {}, el("figcaption", {}, el("span", {}, chart.title),
      el("span", { class: "mono" }, last === null ? "-" : last.toFixed(1) + " " + chart.unit)),
      canvas));
    pending.push([canvas, chart]);
  }
  card.append(charts);
  card.append(el("h3", {}, "Tasks"));
  card.append(svc.tasks.length ? table(TASK_HEADERS, taskRows(svc.tasks))
    : el("p", { class: "empty" }, "no tasks"));
  card.append(el("h3", {}, "Events"));
  card.append(el("ol", { class: "events" }, ...svc.events.map((e) =>
    el("li", {}, el("time", {}, new Date(e.createdAt).toLocaleTimeString()), e.message))));
  return [card, pending];
}

function render(state) {
  const root = document.getElementById("clusters");
  const charts = [];
  const sections = state.clusters.map((c) => {
    const section = el("section", { class: "cluster", "data-cluster": c.name },
      el("h2", {}, "Cluster " + c.name + " ", el("span", { class: "mono" }, c.arn)));
    if (!c.services.length) section.append(el("p", { class: "empty" }, "no services"));
    for (const svc of c.services) {
      const [card, pending] = renderService(svc, state.time);
      section.append(card);
      charts.push(...pending);
    }
    if (c.tasks.length) {
      section.append(el("h3", {}, "Standalone tasks"), table(TASK_HEADERS, taskRows(c.tasks)));
    }
    return section;
  });
  root.replaceChildren(...(sections.length ? sections : [el("p", { class: "empty" }, "no clusters")]));
  for (const [canvas, chart] of charts) drawChart(canvas, chart, state.time);
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("events");
  source.addEventListener("state", (ev) => render(JSON.parse(ev.data)));
  source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  source.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
}

connect();
