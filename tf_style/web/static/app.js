// The tf_style page: the new-run form, the live view (server-sent events) and the gallery.
"use strict";

// `delays`: seconds from each step's end in the run to its image on the page (benchmarks/web.py).
const state = { selected: null, runs: new Map(), losses: new Map(), lastStep: new Map(), delays: [] };
window.tfStyle = state;
const $ = (id) => document.getElementById(id);
const ACTIVE = ["running", "queued"];

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

function element(tag, properties = {}, children = []) {
  const made = Object.assign(document.createElement(tag), properties);
  made.append(...children);
  return made;
}

function option(value, text) {
  return element("option", { value, textContent: text });
}

async function loadOptions() {
  const options = await api("/api/options");
  for (const name of options.presets) $("style_preset").append(option(name, name));
  for (const name of options.color_modes) $("preserve_colors").append(option(name, name));
  for (const name of options.optimizers) $("optimizer").append(option(name, name));
  for (const name of options.style_losses) $("style_loss").append(option(name, name));
  for (const name of options.seamless) $("seamless").append(option(name, name));
  $("iters").max = options.max_iters;
  $("seed").max = options.max_seed;
  for (const [name, value] of Object.entries(options.defaults)) {
    const input = $(name);
    if (!input || value === null) continue;
    if (input.type === "checkbox") input.checked = value;
    else input.value = value;
  }
}

// The id in a thumbnail's address: each part encoded, the slash between them kept.
function uploadUrl(id) {
  return `/api/uploads/${id.split("/").map(encodeURIComponent).join("/")}?thumbnail`;
}

function choice(upload, type, name, checked) {
  const input = element("input", { type, name, value: upload.id, checked });
  const image = element("img", { alt: "", loading: "lazy", src: uploadUrl(upload.id) });
  return element("label", { className: "choice", title: upload.name },
                 [input, image, element("span", { textContent: upload.name })]);
}

function chosen(list) {
  return [...$(list).querySelectorAll("input:checked")].map((input) => input.value);
}

// `select`: ids to check from now on ({photo: id, paintings: [ids]}); else what was checked
// stays checked, and the photo defaults to the first (the newest upload).
async function loadUploads(select = {}) {
  const { photos, paintings } = await api("/api/uploads");
  const photo = select.photo || chosen("photo-list")[0];
  const ticked = new Set([...chosen("painting-list"), ...(select.paintings || [])]);
  $("photo-list").replaceChildren(...photos.map((u) => choice(u, "radio", "content", u.id === photo)));
  $("painting-list").replaceChildren(...paintings.map((u) => choice(u, "checkbox", "style", ticked.has(u.id))));
  const radios = $("photo-list").querySelectorAll("input");
  if (radios.length && !chosen("photo-list").length) radios[0].checked = true;
}

async function uploadInto(input, role) {
  clearError("form-error");
  const ids = [];
  try {
    for (const file of input.files) {
      ids.push((await api(`/api/uploads?role=${role}&name=${encodeURIComponent(file.name)}`,
                          { method: "POST", body: file })).id);
    }
  } catch (error) {
    $("form-error").textContent = error.message;
  }
  input.value = "";
  await loadUploads(role === "photo" ? { photo: ids[ids.length - 1] } : { paintings: ids });
}

function makingTexture() {
  return $("kind-texture").checked;
}

// A texture has no photo: its own width and height instead of the photo and its size.
function showKind() {
  const texture = makingTexture();
  $("photo-fieldset").hidden = texture;
  $("size-label").hidden = texture;
  for (const label of document.querySelectorAll(".texture-only")) label.hidden = !texture;
  $("preserve_colors").disabled = texture;
}

function formSettings() {
  const texture = makingTexture();
  const settings = { style: chosen("painting-list") };
  if (texture) settings.texture_size = `${$("texture_width").value}x${$("texture_height").value}`;
  else settings.content = chosen("photo-list")[0] || "";
  for (const name of texture ? ["iters", "seed", "style_weight"] : ["size", "iters", "seed", "style_weight"]) {
    if ($(name).value !== "") settings[name] = Number($(name).value);
  }
  const choices = ["style_preset", "optimizer", "style_loss", "seamless"];
  for (const name of texture ? choices : [...choices, "preserve_colors"]) {
    if ($(name).value !== "") settings[name] = $(name).value;
  }
  settings.deterministic = $("deterministic").checked;
  return settings;
}

function clearError(id) {
  $(id).textContent = "";
}

async function plan() {
  clearError("form-error");
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
  clearError("form-error");
  try {
    const { id } = await api("/api/runs", { method: "POST", body: JSON.stringify(formSettings()),
                                             headers: { "Content-Type": "application/json" } });
    await loadRuns();
    select(id);
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

function fileUrl(id, kind, inline) {
  return `/api/runs/${id.split("/").map(encodeURIComponent).join("/")}/files/${kind}${inline ? "?inline=1" : ""}`;
}

// What the live view shows of a run with no step event on this page: its output when it
// finished, else the last image the server kept, and the step it reached.
function showKept(run) {
  const kind = run.downloads.includes("output") ? "output" : run.preview ? "preview" : null;
  $("live-image").hidden = kind === null;
  if (kind) $("live-image").src = `${fileUrl(run.id, kind, true)}&t=${run.modified}`;
  const step = run.last_step;
  $("live-step").textContent = step && step.step ? `${run.status} at step ${step.step}/${step.iters}` : run.status;
}

function select(id, scroll = false) {
  state.selected = id;
  $("live-run").textContent = id || "";
  clearError("live-error");
  $("live-tiles").hidden = true;
  const step = state.lastStep.get(id);
  const run = state.runs.get(id);
  if (step) showStep(step);
  else if (run) showKept(run);
  else {
    $("live-image").hidden = true;
    $("live-step").textContent = id ? "queued" : "Start a run, or pick one in the gallery to watch it.";
  }
  showStatus(id ? (run ? run.status : "queued") : "", run ? run.error : "");
  showLiveRepeat();
  drawLosses();
  if (scroll) $("live").scrollIntoView({ behavior: "smooth", block: "start" });
}

function showStatus(status, error) {
  $("live-status").textContent = status;
  $("live-status").hidden = !status;
  $("live-status").className = `status ${status}`;
  $("live-status").dataset.status = status;
  const run = state.runs.get(state.selected);
  $("stop-button").disabled = !ACTIVE.includes(status);
  $("resume-button").disabled = !(["stopped", "failed"].includes(status) && (!run || run.resumable));
  $("live-error").textContent = error || "";
  const step = state.lastStep.get(state.selected);
  if (step && !ACTIVE.includes(status)) describeStep(step, status);
}

// "step 12/500 · loss … · 0.41 s/step · ETA 3 min" while running; a run that ended says
// where it got to, with no speed and no time left.
function describeStep(event, status) {
  const scale = event.scales > 1 ? ` · scale ${event.scale + 1}/${event.scales}` : "";
  let text = `step ${event.step}/${event.iters}${scale} · loss ${event.losses.total.toPrecision(4)}`;
  if (status && !ACTIVE.includes(status)) text = `${status} at ${text}`;
  else if (event.seconds_per_step === null) text += " · measuring speed…";
  else text += ` · ${event.seconds_per_step.toFixed(2)} s/step · ETA ${duration(event.eta_seconds)}`;
  $("live-step").textContent = text;
  $("live-step").dataset.step = event.step;
}

// How many copies of a seamless picture go across and down, for the axes it wraps on.
const REPEATS = { x: [2, 1], y: [1, 2], both: [2, 2] };

// A seamless run's picture placed 2x2 (or 2x1) as a tiled background of `element`: where
// the copies meet, a seam would show. `width`, `height`: the picture's, for the box's shape
// (none: the box keeps its height and the copies fill it).
function showRepeated(element, src, seamless, width, height) {
  const [across, down] = REPEATS[seamless];
  element.style.backgroundImage = `url("${src}")`;
  element.style.backgroundSize = width ? `${100 / across}% ${100 / down}%` : `auto ${100 / down}%`;
  if (width) element.style.aspectRatio = `${width * across} / ${height * down}`;
  element.dataset.repeat = seamless;
}

// Below the live image, the selected run's picture repeated when the run is seamless.
function showLiveRepeat() {
  const run = state.runs.get(state.selected);
  const seamless = run && run.settings.seamless;
  const image = $("live-image");
  const shown = Boolean(seamless) && !image.hidden && image.naturalWidth > 0;
  $("live-repeat").hidden = !shown;
  if (shown) showRepeated($("live-repeat"), image.src, seamless, image.naturalWidth, image.naturalHeight);
}

function showStep(event) {
  $("live-image").hidden = false;
  $("live-image").src = event.image;
  $("live-image").dataset.step = event.step;
  const run = state.runs.get(event.run);
  describeStep(event, run ? run.status : "running");
  $("live-tiles").hidden = true;
}

function drawLosses() {
  const canvas = $("live-losses");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const history = state.losses.get(state.selected) || [];
  canvas.hidden = history.length < 2;
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

function cardPicture(run) {
  const kind = run.downloads.includes("output") ? "output" : run.preview ? "preview" : null;
  if (!kind) return element("div", { className: "no-picture", textContent: "no picture yet" });
  if (run.settings.seamless) {
    const tiled = element("div", { className: "repeat", title: `${run.id}, repeated: it is seamless` });
    showRepeated(tiled, `${fileUrl(run.id, kind, true)}&thumbnail&t=${run.modified}`, run.settings.seamless);
    return tiled;
  }
  return element("img", { alt: `${kind === "output" ? "Output" : "Last image"} of ${run.id}`, loading: "lazy",
                          src: `${fileUrl(run.id, kind, true)}&thumbnail&t=${run.modified}` });
}

function card(run) {
  const status = element("span", { className: `status ${run.status}`, textContent: run.status });
  status.dataset.status = run.status;
  const watch = element("button", { type: "button", className: "watch", textContent: "Watch" });
  watch.onclick = () => select(run.id, true);
  const links = element("div", { className: "links" }, [watch]);
  for (const kind of run.downloads) {
    const link = element("a", { href: fileUrl(run.id, kind, false), className: `download-${kind}`,
                                textContent: `Download ${kind}` });
    link.setAttribute("download", "");
    links.append(link);
  }
  if (!ACTIVE.includes(run.status)) {
    const remove = element("button", { type: "button", className: "delete", textContent: "Delete" });
    remove.onclick = () => deleteRun(run.id);
    links.append(remove);
  }
  const settings = element("details", {}, [
    element("summary", { textContent: "Settings" }),
    element("pre", { textContent: Object.entries(run.settings).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n") }),
  ]);
  const made = element("article", { className: "card" }, [
    cardPicture(run), element("div", { className: "name", textContent: run.id }), status, links, settings,
    element("p", { className: "error", textContent: run.error }),
  ]);
  made.dataset.run = run.id;
  return made;
}

async function loadRuns() {
  const { runs } = await api("/api/runs");
  state.runs = new Map(runs.map((run) => [run.id, run]));
  $("cards").replaceChildren(...runs.map(card));
  $("no-runs").hidden = runs.length > 0;
  if (state.selected && state.runs.has(state.selected)) {
    const run = state.runs.get(state.selected);
    if (!state.lastStep.has(run.id)) showKept(run);
    showStatus(run.status, run.error);
    showLiveRepeat();
  } else if (state.selected && !state.lastStep.has(state.selected)) {
    select(null);
  }
}

async function deleteRun(id) {
  if (!window.confirm(`Delete run ${id} and all its files (output, checkpoints, logs)?`)) return;
  try {
    await api(`/api/runs/${id.split("/").map(encodeURIComponent).join("/")}`, { method: "DELETE" });
    state.lastStep.delete(id);
    state.losses.delete(id);
    if (state.selected === id) select(null);
    await loadRuns();
  } catch (error) {
    if (state.selected === id) $("live-error").textContent = error.message;
    else window.alert(error.message);
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
      if (event.run === state.selected && event.status !== "deleted") {
        showStatus(event.status, event.status === "failed" ? event.message : "");
      }
      loadRuns();
    }
  };
}

async function stopSelected() {
  clearError("live-error");
  try { await api(`/api/runs/${state.selected}/stop`, { method: "POST" }); }
  catch (error) { $("live-error").textContent = error.message; }
}

async function resumeSelected() {
  clearError("live-error");
  try {
    state.lastStep.delete(state.selected);
    await api(`/api/runs/${state.selected}/resume`, { method: "POST" });
    await loadRuns();
  } catch (error) { $("live-error").textContent = error.message; }
}

window.addEventListener("DOMContentLoaded", async () => {
  $("content-file").onchange = () => uploadInto($("content-file"), "photo");
  for (const radio of document.querySelectorAll("input[name=kind]")) radio.onchange = showKind;
  $("live-image").addEventListener("load", showLiveRepeat);
  $("style-file").onchange = () => uploadInto($("style-file"), "painting");
  $("plan-button").onclick = plan;
  $("run-form").onsubmit = start;
  $("run-form").oninput = () => clearError("form-error");
  $("stop-button").onclick = stopSelected;
  $("resume-button").onclick = resumeSelected;
  listen();
  try {
    await Promise.all([loadOptions(), loadUploads(), loadRuns()]);
  } catch (error) {
    $("form-error").textContent = error.message;
  }
});
