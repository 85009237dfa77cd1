// The demo page: runs every scenario the demo server lists, shows what fetch() returned,
// and reports the results back to its own origin (so tests can compare them with
// corscope's verdicts). Plain JS, no build step.
"use strict";

const rowsEl = document.getElementById("rows");
const summaryEl = document.getElementById("summary");

async function loadConfig() {
  const res = await fetch("/demo-config.json", { cache: "no-store" });
  return res.json();
}

function describe(s) {
  const parts = [s.method, s.path];
  for (const name of Object.keys(s.headers || {})) parts.push(`${name}: …`);
  if (s.credentials === "include") parts.push("credentials: include");
  return parts.join("  ");
}

async function runOne(api, s) {
  const init = {
    method: s.method,
    headers: s.headers || {},
    credentials: s.credentials || "same-origin",
    cache: "no-store",
  };
  if (s.body !== undefined && s.body !== null) init.body = s.body;
  const url = api[s.origin || "api"] + s.path;
  try {
    const res = await fetch(url, init);
    const text = await res.text();
    const readable = s.read_header ? res.headers.get(s.read_header) : undefined;
    let detail = `${res.status} ${text.slice(0, 60)}`;
    if (s.read_header) detail += `  ${s.read_header}: ${readable === null ? "(not readable)" : readable}`;
    return { id: s.id, fetch: "resolved", status: res.status, readable_header: readable, detail };
  } catch (err) {
    return { id: s.id, fetch: "threw", error: String(err), detail: String(err) };
  }
}

function render(s, result) {
  const tr = document.createElement("tr");
  tr.id = `row-${s.id}`;
  const title = document.createElement("td");
  title.innerHTML = `<strong></strong><div class="note"></div>`;
  title.querySelector("strong").textContent = s.title;
  title.querySelector(".note").textContent = s.note || "";
  const req = document.createElement("td");
  req.textContent = describe(s);
  const got = document.createElement("td");
  got.className = result.fetch === "resolved" ? "ok" : "fail";
  got.textContent = result.detail;
  tr.append(title, req, got);
  return tr;
}

async function runAll() {
  rowsEl.textContent = "";
  summaryEl.textContent = "running…";
  const config = await loadConfig();
  document.getElementById("page-origin").textContent = location.origin;
  document.getElementById("api-origin").textContent = config.api.api;
  const results = [];
  // One at a time, so the order in corscope matches the order on the page.
  for (const s of config.scenarios) {
    const result = await runOne(config.api, s);
    results.push(result);
    rowsEl.append(render(s, result));
  }
  const threw = results.filter((r) => r.fetch === "threw").length;
  summaryEl.textContent = `${results.length} requests, ${threw} blocked by the browser`;
  await fetch("/demo-results", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userAgent: navigator.userAgent, results }),
  }).catch(() => {});
  document.body.dataset.done = "1";
}

document.getElementById("run").addEventListener("click", runAll);
runAll();
