// The tf_style page: the new-run form, the live view (server-sent events) and the gallery.
"use strict";

// `delays`: seconds from each step's end in the run to its image on the page (benchmarks/web.py).
const state = { selected: null, runs: new Map(), losses: new Map(), lastStep: new Map(), delays: [] };
window.tfStyle = state;
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

function option(value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  return element;
}

async function loadOptions() {
  const options = await api("/api/options");
  for (const name of options.presets) $("style_preset").append(option(name, name));
  for (const name of options.color_modes) $("preserve_colors").append(option(name, name));
  for (const name of options.optimizers) $("optimizer").append(option(name, name));
  for (const name of options.style_losses) $("style_loss").append(option(name, name));
  for (const [name, value] of Object.entries(options.defaults)) {
    const input = $(name);
    if (!input || value === null) continue;
    if (input.type === "checkbox") input.checked = value;
    else input.value = value;
  }
}

async function loadUploads(select = {}) {
  const { uploads } = await api("/api/uploads");
  for (const id of ["content", "style"]) {
    const chosen = new Set([...$(id).selectedOptions].map((o) => o.value).concat(select[id] || []));
    $(id).replaceChildren(...uploads.map((u) => option(u.id, u.name)));
    for (const element of $(id).options) element.selected = chosen.has(element.value);
  }
  if (!$("content").selectedOptions.length && $("content").options.length) $("content").options[0].selected = true;
}

async function upload(file) {
  return api(`/api/uploads?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
}

async function uploadInto(input, target) {
  $("form-error").textContent = "";
  const ids = [];
  try {
    for (const file of input.files) ids.push((await upload(file)).id);
  } catch (error) {
    $("form-error").textContent = error.message;
  }
  input.value = "";
  if (target === "content") $("content").value = "";
  await loadUploads({ [target]: ids });
  if (target === "content" && ids.length) $("content").value = ids[ids.length - 1];
}

function formSettings() {
  const settings = { content: $("content").value, style: [...$("style").selectedOptions].map((o) => o.value) };
  for (const name of ["size", "iters", "seed", "style_weight"]) {
    if ($(name).value !== "") settings[name] = Number($(name).value);
  }
  for (const name of ["style_preset", "preserve_colors", "optimizer", "style_loss"]) {
    if ($(name).value !== "") settings[name] = $(name).value;
  }
  settings.deterministic = $("deterministic").checked;
  return settings;
}

async function plan() {
  $("form-error").textContent = "";
  $("plan").hidden = false;
  $("plan").textContent = "Planning…";
  try {
    const result = await api("/api/plan", { method: "POST", body: JSON.stringify(formSettings()),
                                            headers: { "Content-Type": "application/json" } });
    $("plan").textContent = result.plan;
  } catch (error) {
    $("plan").hidden = true;
    $("form-error").textContent = error.message;
  }
}

async function start(event) {
  event.preventDefault();
  $("form-error").textContent = "";
  try {
    const { id } = await api("/api/runs", { method: "POST", body: JSON.stringify(formSettings()),
                                             headers: { "Content-Type": "application/json" } });
    select(id);
    await loadRuns();
  } catch (error) {
    $("form-error").textContent = error.message;
  }
}

function duration(seconds) {
  if (!isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function select(id) {
  state.selected = id;
  $("live-run").textContent = id;
  $("live-error").textContent = "";
  $("live-tiles").hidden = true;
  const step = state.lastStep.get(id);
  const run = state.runs.get(id);
  if (step) showStep(step);
  else {
    $("live-image").hidden = !(run && run.downloads.includes("output"));
    if (run && run.downloads.includes("output")) $("live-image").src = fileUrl(id, "output", true);
    $("live-step").textContent = run ? `${run.status}` : "queued";
  }
  showStatus(run ? run.status : "queued", run ? run.error : "");
  drawLosses();
}

function showStatus(status, error) {
  $("live-status").textContent = status;
  $("live-status").className = `status ${status}`;
  $("live-status").dataset.status = status;
  const run = state.runs.get(state.selected);
  $("stop-button").disabled = !["running", "queued"].includes(status);
  $("resume-button").disabled = !(["stopped", "failed"].includes(status) && (!run || run.resumable));
  $("live-error").textContent = error || "";
}

function showStep(event) {
  $("live-image").hidden = false;
  $("live-image").src = event.image;
  $("live-image").dataset.step = event.step;
  const scale = event.scales > 1 ? ` · scale ${event.scale + 1}/${event.scales}` : "";
  $("live-step").textContent = `step ${event.step}/${event.iters}${scale} · loss ${event.losses.total.toPrecision(4)}` +
    ` · ${event.seconds_per_step.toFixed(2)} s/step · ETA ${duration(event.eta_seconds)}`;
  $("live-step").dataset.step = event.step;
  $("live-tiles").hidden = true;
}

function drawLosses() {
  const canvas = $("live-losses");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const history = state.losses.get(state.selected) || [];
  if (history.length < 2) return;
  const names = Object.keys(history[0].losses).filter((name) => !name.includes("/"));
  const colours = ["#263238", "#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa"];
  const values = history.flatMap((point) => names.map((name) => point.losses[name])).filter((v) => v > 0);
  const low = Math.log10(Math.min(...values)), high = Math.log10(Math.max(...values));
  const first = history[0].step, last = history[history.length - 1].step;
  const x = (step) => 40 + (canvas.width - 50) * (step - first) / Math.max(1, last - first);
  const y = (value) => canvas.height - 15 - (canvas.height - 35) * (Math.log10(value) - low) / Math.max(1e-9, high - low);
  context.font = "11px sans-serif";
  names.forEach((name, index) => {
    context.strokeStyle = context.fillStyle = colours[index % colours.length];
    context.beginPath();
    history.filter((point) => point.losses[name] > 0).forEach((point, i) => {
      if (i === 0) context.moveTo(x(point.step), y(point.losses[name]));
      else context.lineTo(x(point.step), y(point.losses[name]));
    });
    context.stroke();
    context.fillText(name, 45 + 60 * index, 12);
  });
  context.fillStyle = "#555";
  context.fillText(`step ${first}–${last}, log scale`, canvas.width - 150, canvas.height - 2);
}

function fileUrl(id, kind, inline) {
  return `/api/runs/${encodeURIComponent(id).replace(/%2F/g, "/")}/files/${kind}${inline ? "?inline=1" : ""}`;
}

function card(run) {
  const element = document.createElement("article");
  element.className = "card";
  element.dataset.run = run.id;
  const image = document.createElement("img");
  image.alt = `Output of ${run.id}`;
  if (run.downloads.includes("output")) image.src = `${fileUrl(run.id, "output", true)}&thumbnail&t=${run.modified}`;
  const name = document.createElement("div");
  name.className = "name";
  name.textContent = run.id;
  const status = document.createElement("span");
  status.className = `status ${run.status}`;
  status.dataset.status = run.status;
  status.textContent = run.status;
  const links = document.createElement("div");
  links.className = "links";
  const watch = document.createElement("button");
  watch.textContent = "Watch";
  watch.className = "watch";
  watch.onclick = () => select(run.id);
  links.append(watch);
  for (const kind of run.downloads) {
    const link = document.createElement("a");
    link.href = fileUrl(run.id, kind, false);
    link.className = `download-${kind}`;
    link.textContent = `Download ${kind}`;
    link.setAttribute("download", "");
    links.append(link);
  }
  const settings = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "Settings";
  const list = document.createElement("pre");
  list.textContent = Object.entries(run.settings).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n");
  settings.append(summary, list);
  const error = document.createElement("p");
  error.className = "error";
  error.textContent = run.error;
  element.append(image, name, status, links, settings, error);
  return element;
}

async function loadRuns() {
  const { runs } = await api("/api/runs");
  state.runs = new Map(runs.map((run) => [run.id, run]));
  $("cards").replaceChildren(...runs.map(card));
  if (state.selected && state.runs.has(state.selected)) {
    const run = state.runs.get(state.selected);
    showStatus(run.status, run.error);
  }
}

function listen() {
  const source = new EventSource("/api/events");
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "step") {
      state.lastStep.set(event.run, event);
      const history = state.losses.get(event.run) || [];
      history.push({ step: event.step, losses: event.losses });
      state.losses.set(event.run, history);
      if (state.selected === null) select(event.run);
      if (event.run === state.selected) {
        showStep(event);
        drawLosses();
        $("live-image").decode().then(() => state.delays.push(
          { step: event.step, seconds: Date.now() / 1000 - event.time })).catch(() => {});
      }
    } else if (event.type === "tile" && event.run === state.selected) {
      $("live-tiles").hidden = false;
      $("live-tiles").max = event.total;
      $("live-tiles").value = event.done;
    } else if (event.type === "status") {
      const run = state.runs.get(event.run);
      if (run) run.status = event.status;
      if (event.run === state.selected) showStatus(event.status, event.status === "failed" ? event.message : "");
      loadRuns();
    }
  };
}

async function stopSelected() {
  try { await api(`/api/runs/${state.selected}/stop`, { method: "POST" }); }
  catch (error) { $("live-error").textContent = error.message; }
}

async function resumeSelected() {
  try {
    state.lastStep.delete(state.selected);
    await api(`/api/runs/${state.selected}/resume`, { method: "POST" });
    await loadRuns();
  } catch (error) { $("live-error").textContent = error.message; }
}

window.addEventListener("DOMContentLoaded", async () => {
  $("content-file").onchange = () => uploadInto($("content-file"), "content");
  $("style-file").onchange = () => uploadInto($("style-file"), "style");
  $("plan-button").onclick = plan;
  $("run-form").onsubmit = start;
  $("stop-button").onclick = stopSelected;
  $("resume-button").onclick = resumeSelected;
  listen();
  try {
    await Promise.all([loadOptions(), loadUploads(), loadRuns()]);
  } catch (error) {
    $("form-error").textContent = error.message;
  }
});
