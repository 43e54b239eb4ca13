// The dashboard: reads the JSON API, follows a run's event stream, sends the buttons' POSTs
// with the session's CSRF token (the session cookie itself is HttpOnly).
"use strict";

const state = { csrf: null, readOnly: true, status: null, events: null };

function el(id) { return document.getElementById(id); }

function text(value) { return value === null || value === undefined ? "-" : String(value); }

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

async function getJson(url) {
  const reply = await fetch(url, { credentials: "same-origin" });
  const body = await reply.json();
  if (!reply.ok) throw new Error(body.error || `HTTP ${reply.status}`);
  return body;
}

async function loadSession() {
  try {
    const session = await getJson("/api/session");
    state.csrf = session.csrf_token;
    state.readOnly = session.read_only;
    el("session").textContent = session.read_only ? "read-only" : "logged in";
  } catch (error) {
    el("session").textContent = "view only: open the login link agentgraph serve printed to steer runs";
  }
}

async function showRuns() {
  const body = await getJson("/api/runs");
  const rows = el("runs");
  rows.replaceChildren();
  for (const run of body.runs) {
    const row = rows.insertRow();
    const link = document.createElement("a");
    link.href = `/runs/${encodeURIComponent(run.run_id)}`;
    link.textContent = run.run_id;
    row.insertCell().append(link);
    row.insertCell().textContent = run.kind;
    const status = row.insertCell();
    status.textContent = run.status;
    status.className = `status status-${run.status}`;
    const p = run.progress;
    row.insertCell().textContent = p.total === null ? `${p.done} ${p.of}` : `${p.done}/${p.total} ${p.of}`;
    row.insertCell().textContent = run.tokens.toLocaleString();
    row.insertCell().textContent = run.cost.toFixed(4);
    row.insertCell().textContent = text(run.updated_at);
  }
  el("runs-note").textContent = body.runs.length ? "" : "no runs yet";
}

function fact(list, name, value) {
  const term = document.createElement("dt");
  term.textContent = name;
  const detail = document.createElement("dd");
  detail.textContent = value;
  detail.dataset.fact = name;
  list.append(term, detail);
}

function showStatus(doc) {
  state.status = doc;
  el("status").textContent = doc.status;
  el("status").className = `status status-${doc.status}`;
  el("reason").textContent = doc.reason ? `(${doc.reason})` : "";
  const facts = el("facts");
  facts.replaceChildren();
  if (doc.kind === "batch") {
    const c = doc.counts;
    const remaining = c.pending + c.running;
    el("bar-completed").style.width = `${c.total ? (100 * c.completed) / c.total : 0}%`;
    el("bar-failed").style.width = `${c.total ? (100 * c.failed) / c.total : 0}%`;
    el("progress-line").textContent =
      `${c.completed} completed, ${c.failed} failed, ${remaining} remaining of ${c.total} (${doc.percent.toFixed(1)}%)`;
    fact(facts, "completed", c.completed);
    fact(facts, "failed", c.failed);
    fact(facts, "running", c.running);
    fact(facts, "pending", c.pending);
    fact(facts, "skipped", c.skipped);
    fact(facts, "total", c.total);
    fact(facts, "rate", doc.rate_per_minute === null ? "-" : `${doc.rate_per_minute.toFixed(1)}/min`);
    fact(facts, "ETA", duration(doc.eta_seconds));
    fact(facts, "tokens", (c.usage.tokens_in + c.usage.tokens_out).toLocaleString());
    fact(facts, "cost", c.usage.cost.toFixed(4));
    showFailed(doc.failed);
  } else {
    el("bar").hidden = true;
    el("progress-line").textContent = `${doc.totals.steps} steps; next node: ${text(doc.next_node)}`;
    fact(facts, "steps", doc.totals.steps);
    fact(facts, "tokens", doc.totals.tokens.toLocaleString());
    fact(facts, "cost", doc.totals.cost.toFixed(4));
    fact(facts, "current node", text(doc.current_node));
    fact(facts, "next node", text(doc.next_node));
    el("path-heading").hidden = doc.path.length === 0;
    el("path").replaceChildren(...doc.path.map((node) => {
      const item = document.createElement("li");
      item.textContent = node;
      return item;
    }));
  }
  showButtons(doc);
}

function showFailed(failed) {
  el("failed-heading").hidden = el("failed-table").hidden = failed.length === 0;
  el("failed").replaceChildren(...failed.map((item) => {
    const row = document.createElement("tr");
    const error = item.error ? `${item.error.type}: ${item.error.message}` : "-";
    for (const value of [item.item_id, item.attempts, error]) {
      row.insertCell().textContent = value;
    }
    return row;
  }));
}

function showButtons(doc) {
  const off = state.readOnly || state.csrf === null;
  const pending = doc.kind === "batch" ? doc.counts.pending : 0;
  el("pause").disabled = off || !["running", "pending"].includes(doc.status);
  el("resume").disabled = off || !(["paused", "failed"].includes(doc.status) ||
    (doc.status === "running" && doc.lease && !doc.lease.live) ||
    (doc.status === "completed" && pending > 0));
  el("cancel").disabled = off || ["completed", "cancelled"].includes(doc.status);
  el("retry").disabled = off || doc.kind !== "batch" || doc.counts.failed === 0;
}

function follow(runId) {
  if (state.events) state.events.close();
  const events = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
  state.events = events;
  events.addEventListener("status", (event) => showStatus(JSON.parse(event.data)));
  events.addEventListener("end", () => events.close());
}

async function steer(runId, action, label) {
  el("message").textContent = `${label}...`;
  try {
    const reply = await fetch(`/api/runs/${encodeURIComponent(runId)}/${action}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": state.csrf || "" },
      body: "{}",
    });
    const body = await reply.json();
    el("message").textContent = reply.ok ? body.message : `refused: ${body.error}`;
  } catch (error) {
    el("message").textContent = `failed: ${error.message}`;
  }
  follow(runId);
}

async function showRun() {
  const runId = decodeURIComponent(location.pathname.split("/").pop());
  el("run-id").textContent = runId;
  document.title = `agentgraph run ${runId}`;
  const buttons = { pause: "Pause", resume: "Resume", cancel: "Cancel", retry: "Retry failed" };
  const actions = { pause: "pause", resume: "resume", cancel: "cancel", retry: "retry-failed" };
  for (const [id, label] of Object.entries(buttons)) {
    el(id).addEventListener("click", () => steer(runId, actions[id], label));
  }
  try {
    showStatus(await getJson(`/api/runs/${encodeURIComponent(runId)}`));
  } catch (error) {
    el("message").textContent = error.message;
    return;
  }
  follow(runId);
}

async function start() {
  await loadSession();
  if (document.body.dataset.page === "runs") {
    await showRuns();
    setInterval(() => showRuns().catch(() => {}), 2000);
  } else {
    await showRun();
  }
}

start();
