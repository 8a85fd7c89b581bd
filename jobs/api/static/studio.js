// The studio page: render an intent, follow its jobs live, listen and look at the results.
// The token (if the farm has one) is kept in this browser's local storage and sent as a
// header, never in a URL: so events are read with fetch (EventSource cannot send headers) and
// artifacts are fetched and shown as blob: URLs.
"use strict";

const $ = (id) => document.getElementById(id);
const ORDER = ["intent", "midi", "image", "audio"];
const page = {
  token: localStorage.getItem("farm.token") || "",
  project: localStorage.getItem("farm.project") || "default",
  render: null,   // {title, nodes: {name: job}} of the render shown
  stream: null,   // the AbortController of the live events
  urls: [],       // blob: URLs of the render shown, released when another is shown
};

function headers(extra) {
  const all = Object.assign({}, extra || {});
  if (page.token) all.Authorization = "Bearer " + page.token;
  return all;
}

async function call(path, options) {
  const init = Object.assign({}, options || {});
  init.headers = headers(init.body ? {"Content-Type": "application/json"} : {});
  const answer = await fetch(path, init);
  if (!answer.ok) {
    let detail = answer.status + " " + answer.statusText;
    try { detail = (await answer.json()).detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return answer;
}

// Server-Sent Events over fetch, resumed after a drop with Last-Event-ID.
async function follow(url, onEvent, signal) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const extra = lastId ? {"Last-Event-ID": lastId} : {};
      const answer = await fetch(url, {headers: headers(extra), signal});
      if (!answer.ok) throw new Error(answer.status);
      $("live").className = "on";
      const reader = answer.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = parseEvent(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (event && event.id) lastId = event.id;
          if (event && event.data) onEvent(event);
        }
      }
    } catch (_) {
      if (signal.aborted) return;
    }
    $("live").className = "off";
    await new Promise((done) => setTimeout(done, 1000));
  }
}

function parseEvent(block) {
  const event = {type: "message", id: null, data: null};
  for (const line of block.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;  // a comment (": keepalive") or nothing
    const field = line.slice(0, colon), value = line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "id") event.id = value;
    else if (field === "data") event.data = JSON.parse(value);
  }
  return event;
}

function listen() {
  if (page.stream) page.stream.abort();
  page.stream = new AbortController();
  const url = "/events?project=" + encodeURIComponent(page.project);
  follow(url, onEvent, page.stream.signal);
}

let historyTimer = null;
function onEvent(event) {
  const data = event.data;
  if (data.kind === "intent" && event.type === "state") {
    clearTimeout(historyTimer);
    historyTimer = setTimeout(showHistory, 300);
  }
  const job = page.render && Object.values(page.render.nodes).find((j) => j.job_id === data.job_id);
  if (!job) return;
  job.seen = true;
  job.state = data.state;
  if (data.progress !== null) job.progress = data.progress;
  if (data.message) job.why = data.message;
  if (data.artifacts) job.artifacts = data.artifacts;
  showGraph();
}

// A render: its jobs by node, from POST /render or the history.
async function showRender(title, ids) {
  page.render = {title, nodes: {}, shown: false};
  for (const [name, id] of Object.entries(ids)) page.render.nodes[name] = {job_id: id, state: "QUEUED"};
  showGraph();
  const render = page.render;
  await Promise.all(Object.entries(ids).map(async ([name, id]) => {
    const doc = await (await call("/jobs/" + id)).json();
    const job = render.nodes[name];
    if (!job.seen) Object.assign(job, {state: doc.state, progress: doc.progress, why: doc.reason || doc.error});
    if (!job.artifacts || !job.artifacts.length) job.artifacts = doc.artifacts;
  }));
  if (render === page.render) showGraph();
}

function showGraph() {
  const render = page.render;
  $("title").textContent = render.title;
  const list = $("graph");
  list.replaceChildren();
  const names = Object.keys(render.nodes).sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
  for (const name of names) {
    const job = render.nodes[name];
    const item = document.createElement("li");
    item.dataset.node = name;
    item.dataset.state = job.state;
    const label = document.createElement("strong");
    label.textContent = name;
    const state = document.createElement("span");
    state.className = "state " + job.state;
    state.textContent = job.state;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = Math.round(100 * (job.state === "SUCCEEDED" ? 1 : job.progress || 0)) + "%";
    bar.append(fill);
    const why = document.createElement("span");
    why.className = "why";
    why.textContent = job.why || "";
    item.append(label, state, bar, why);
    list.append(item);
  }
  const ended = names.every((n) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(render.nodes[n].state));
  if (ended && !render.shown) {
    render.shown = true;
    showResults(render);
  }
}

async function blobUrl(artifact) {
  const blob = await (await call(artifact.url)).blob();
  const url = URL.createObjectURL(blob);
  page.urls.push(url);
  return url;
}

async function showResults(render) {
  page.urls.forEach((url) => URL.revokeObjectURL(url));
  page.urls = [];
  const find = (node, name) => ((render.nodes[node] || {}).artifacts || []).find((a) => name.test(a.name));
  const media = [["roll-box", "pianoroll", find("midi", /^pianoroll\.png$/)],
                 ["preview-box", "preview", find("midi", /^preview\.wav$/)],
                 ["texture-box", "texture-audio", find("audio", /^texture\.wav$/)],
                 ["cover-box", "cover", find("image", /^image-0\.png$/)]];
  for (const [box, element, artifact] of media) {
    $(box).hidden = !artifact;
    $(element).removeAttribute("src");
    if (artifact) $(element).src = await blobUrl(artifact);
  }
  const downloads = $("downloads");
  downloads.replaceChildren();
  for (const [node, job] of Object.entries(render.nodes)) {
    for (const artifact of job.artifacts || []) {
      const link = document.createElement("a");
      link.href = "#";
      link.textContent = node + "/" + artifact.name;
      link.addEventListener("click", async (click) => {
        click.preventDefault();
        const save = document.createElement("a");
        save.href = await blobUrl(artifact);
        save.download = artifact.name;
        save.click();
      });
      const item = document.createElement("li");
      item.append(link);
      downloads.append(item);
    }
  }
  $("results").hidden = false;
}

async function showHistory() {
  try {
    const renders = await (await call("/renders?limit=20&project=" + encodeURIComponent(page.project))).json();
    const list = $("history");
    list.replaceChildren();
    for (const render of renders) {
      const item = document.createElement("li");
      item.textContent = render.text;
      const when = document.createElement("small");
      when.textContent = (render.created_at || "").replace("T", " ").slice(0, 19) + " · " +
        Object.keys(render.jobs).join(", ");
      item.append(when);
      item.addEventListener("click", () => {
        $("results").hidden = true;
        showRender(render.text, render.jobs).catch(showError);
      });
      list.append(item);
    }
  } catch (error) {
    showError(error);
  }
}

function showError(error) {
  $("error").textContent = error.message;
}

async function submitRender(submit) {
  submit.preventDefault();
  $("error").textContent = "";
  $("results").hidden = true;
  $("render").disabled = true;
  try {
    const body = {intent: $("intent").value, images: $("images").checked,
                  audio_texture: $("texture").checked, project: page.project};
    if ($("bars").value) body.bars = Number($("bars").value);
    const made = await (await call("/render", {method: "POST", body: JSON.stringify(body)})).json();
    await showRender(body.intent, made.jobs);
    if (made.skipped.length) $("error").textContent = "skipped: " + made.skipped.join("; ");
  } catch (error) {
    showError(error);
  } finally {
    $("render").disabled = false;
  }
}

function start() {
  $("token").value = page.token;
  $("project").value = page.project;
  $("token").addEventListener("change", () => {
    page.token = $("token").value.trim();
    localStorage.setItem("farm.token", page.token);
    listen();
    showHistory();
  });
  $("project").addEventListener("change", () => {
    page.project = $("project").value.trim() || "default";
    localStorage.setItem("farm.project", page.project);
    listen();
    showHistory();
  });
  $("render-form").addEventListener("submit", submitRender);
  listen();
  showHistory();
}

start();
