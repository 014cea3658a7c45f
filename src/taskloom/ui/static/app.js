// taskloom dashboard: live updates, task details, tabs. No dependencies.
// Text from the journal is only ever written with textContent; the HTML
// swapped in comes from this server's own autoescaped templates.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  function every(ms, fn) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } catch (e) { /* the next tick tries again */ } finally { busy = false; }
    };
    return setInterval(tick, ms);
  }

  // -- runs page: re-render the rows when the journal changed ----------------
  const runsLive = document.getElementById("runs-live");
  if (runsLive && runsLive.dataset.liveRuns) {
    every(1000, async () => {
      const api = runsLive.dataset.liveRuns;
      const sep = api.includes("?") && !api.endsWith("?") ? "&" : "";
      const state = await getJSON(api + sep + "since=" + runsLive.dataset.eventId);
      if (!state.changed) return;
      const r = await fetch(runsLive.dataset.fragment, { credentials: "same-origin" });
      if (!r.ok) return;
      runsLive.innerHTML = await r.text();
      runsLive.dataset.eventId = String(state.event_id);
    });
  }

  // -- workflows page: the style travels with the chosen workflow ------------
  const startName = document.getElementById("start-name");
  if (startName) {
    startName.addEventListener("change", () => {
      document.getElementById("start-style").value = startName.selectedOptions[0].dataset.style;
    });
  }

  // -- run page ---------------------------------------------------------------
  const run = document.getElementById("run");
  if (!run) return;

  function setStatusClass(el, status) {
    for (const c of Array.from(el.classList)) if (c.startsWith("st-")) el.classList.remove(c);
    el.classList.add("st-" + status);
  }

  async function refreshGraph() {
    const r = await fetch(run.dataset.graph, { credentials: "same-origin" });
    if (r.ok) document.getElementById("graph").innerHTML = await r.text();
  }

  if (run.dataset.ended !== "yes") {
    const timer = every(1000, async () => {
      const state = await getJSON(run.dataset.live + "?since=" + run.dataset.eventId);
      run.dataset.eventId = String(state.event_id);
      if (!state.changed) return;
      const svg = document.querySelector("#graph svg");
      if (svg && String(state.size) !== svg.dataset.size) {
        await refreshGraph();
      } else {
        for (const [id, status] of Object.entries(state.nodes)) {
          const node = document.querySelector('#graph [data-node="' + id + '"]');
          if (!node) continue;
          setStatusClass(node, status);
          if (node.dataset.task) {
            const badge = document.querySelector('#tasks tr[data-task="' + CSS.escape(node.dataset.task) + '"] .badge');
            if (badge) { badge.textContent = status; setStatusClass(badge, status); }
          }
          const sub = node.querySelector(".sub");
          if (!sub) continue;
          if (id in state.done) sub.textContent = state.done[id] + "/" + state.members[id] + " done";
          else sub.textContent = status;
        }
      }
      const badge = document.getElementById("run-status");
      badge.textContent = state.status;
      setStatusClass(badge, state.status);
      if (state.ended) {
        clearInterval(timer);
        window.location.reload();
      }
    });
  }

  // tabs
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".tab")) t.classList.toggle("on", t === tab);
      for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", p.id !== tab.dataset.tab);
      if (tab.dataset.tab === "timeline-tab") loadTimeline();
      if (tab.dataset.tab === "signals-tab") loadStepEvents();
    });
  }

  async function loadTimeline() {
    const box = document.getElementById("timeline");
    const data = await getJSON(run.dataset.api + "/timeline");
    box.textContent = "";
    if (!data.rows.length) { box.textContent = "No attempts recorded yet."; return; }
    const note = document.createElement("p");
    note.className = "quiet";
    note.textContent = data.shown + " of " + data.tasks + " tasks, over " + data.span.toFixed(3) + " s";
    box.appendChild(note);
    for (const row of data.rows) {
      const line = document.createElement("div");
      line.className = "tl-row";
      const name = document.createElement("div");
      name.className = "tl-name mono";
      name.textContent = row.task;
      name.title = row.task;
      const track = document.createElement("div");
      track.className = "tl-track";
      for (const bar of row.bars) {
        const b = document.createElement("div");
        const outcome = bar.outcome.startsWith("failed, retrying") ? "retrying" : bar.outcome.split(" ")[0];
        b.className = "tl-bar " + (bar.kind === "attempt" ? (bar.ongoing ? "ongoing" : outcome) :
          (bar.kind === "retry wait" ? "wait" : bar.kind));
        b.style.left = bar.left + "%";
        b.style.width = bar.width + "%";
        b.title = bar.kind + (bar.outcome ? " (" + bar.outcome + ")" : "") + ": " + bar.duration.toFixed(3) + " s";
        b.dataset.kind = bar.kind;
        track.appendChild(b);
      }
      line.append(name, track);
      box.appendChild(line);
    }
  }

  async function loadStepEvents() {
    const box = document.getElementById("step-events");
    const data = await getJSON(run.dataset.api + "/events");
    const table = document.createElement("table");
    table.className = "small";
    for (const e of data.events) {
      const tr = document.createElement("tr");
      for (const v of [e.at, e.kind, e.task || "", e.data === null ? "" : JSON.stringify(e.data)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      table.appendChild(tr);
    }
    box.textContent = "";
    box.appendChild(table);
  }

  // task details
  const detail = document.getElementById("task-detail");
  async function showTask(key, full) {
    const t = await getJSON(run.dataset.api + "/task?key=" + encodeURIComponent(key) + (full ? "&full=1" : ""));
    detail.classList.remove("hidden");
    document.getElementById("d-task").textContent = t.task;
    const st = document.getElementById("d-status");
    st.textContent = t.status;
    st.className = "badge st-" + t.status;
    document.getElementById("d-attempts").textContent = t.attempts + " attempt(s)";
    document.getElementById("d-timing").textContent =
      (t.started_at || "not started") + (t.duration !== null ? " · " + t.duration.toFixed(3) + " s" : "") +
      (t.next_retry_at ? " · next try at " + t.next_retry_at : "");
    document.getElementById("d-error").textContent = t.error || "-";
    document.getElementById("d-traceback").textContent = t.traceback || "-";
    document.getElementById("d-output").textContent = t.output === null ? "-" : t.output;
    const more = document.getElementById("d-more");
    more.classList.toggle("hidden", !t.output_truncated);
    more.textContent = "Show all (" + t.output_size + " characters)";
    more.onclick = () => showTask(key, true);
    for (const n of document.querySelectorAll("#graph .node.selected")) n.classList.remove("selected");
    const node = document.querySelector('#graph [data-task="' + CSS.escape(key) + '"]');
    if (node) node.classList.add("selected");
  }
  document.addEventListener("click", (ev) => {
    const target = ev.target.closest("[data-task]");
    if (target && (target.classList.contains("task-link") || target.classList.contains("node"))) {
      ev.preventDefault();
      showTask(target.dataset.task, false);
    }
  });
  document.getElementById("detail-close").addEventListener("click", () => detail.classList.add("hidden"));
})();
