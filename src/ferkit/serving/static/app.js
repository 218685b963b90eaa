"use strict";

// ferkit web page: photo upload and live webcam, both through POST /v1/predict. No external assets.

const FRAME_INTERVAL_MS = 150; // at most ~6-7 webcam frames per second are sent
const WEBCAM_MAX_WIDTH = 640; // frames are downscaled before upload
const FPS_WINDOW_MS = 3000;
const MAX_DISPLAY_SIDE = 2048; // photos are drawn at most this large
// Webcam tracking and smoothing: the same rules and constants as `ferkit predict` on a video
// (ferkit.faces.tracking): greedy matching by IoU (centre distance for fast moves), a track kept 1 s after
// its face was last seen, probabilities averaged per track with a 0.5 s half-life.
const TRACK_MIN_IOU = 0.2;
const TRACK_MAX_CENTRE_SHIFT = 0.6;
const TRACK_KEEP_MS = 1000;
const SMOOTH_HALF_LIFE_MS = 500;

const EMOTION_COLORS = {
  angry: "#e5484d",
  disgust: "#46a758",
  fear: "#8e4ec6",
  happy: "#f0b400",
  sad: "#3e82f7",
  surprise: "#f76b15",
  neutral: "#8b8d98",
  contempt: "#d6409f",
};

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const state = {
  classes: [],
  photo: { bitmap: null, faces: [], selected: -1, scaleX: 1, scaleY: 1 },
  cam: { stream: null, running: false, frameTimes: [] },
  detector: null,
};

function colorFor(emotion) {
  if (EMOTION_COLORS[emotion]) return EMOTION_COLORS[emotion];
  let hash = 0;
  for (const ch of String(emotion)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 65% 55%)`;
}

function setStatus(id, text, isError = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", isError);
}

function percent(value) {
  return `${Math.round(value * 100)}%`;
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

// ---- model card -------------------------------------------------------------------------------

async function loadModelInfo() {
  const info = $("model-info");
  for (;;) {
    try {
      const response = await fetch("/v1/model");
      const body = await readJson(response);
      if (response.ok) {
        state.classes = body.classes || [];
        state.detector = body.detector || null;
        const [h, w] = body.input_size || [];
        info.textContent = `Model ${body.name} · version ${body.version} · ${state.classes.length} emotions` +
          (h ? ` · ${w}×${h} ${body.color_mode}` : "");
        info.classList.remove("error");
        return;
      }
      info.textContent = body.error || "The model is loading…";
    } catch {
      info.textContent = "Cannot reach the ferkit server; retrying…";
      info.classList.add("error");
    }
    await sleep(1500);
  }
}

// ---- probabilities chart ------------------------------------------------------------------------

// The highlighted bar is the face's own `emotion`, decided by the server on unrounded probabilities: the
// JSON rounds them, so near-ties can look equal here.
function renderChart(container, face) {
  container.replaceChildren();
  const probabilities = face?.probabilities;
  if (!probabilities) return;
  const names = state.classes.length ? state.classes : Object.keys(probabilities);
  const best = face.emotion;
  for (const name of names) {
    const value = probabilities[name] ?? 0;
    const row = document.createElement("div");
    row.className = "bar-row" + (name === best ? " best" : "");
    row.dataset.emotion = name;
    const label = document.createElement("span");
    label.className = "bar-name";
    label.textContent = name;
    const track = document.createElement("span");
    track.className = "bar-track";
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.display = "block";
    fill.style.width = `${(value * 100).toFixed(1)}%`;
    fill.style.background = colorFor(name);
    track.append(fill);
    const number = document.createElement("span");
    number.className = "bar-value";
    number.textContent = `${(value * 100).toFixed(1)}%`;
    row.append(label, track, number);
    container.append(row);
  }
}

// ---- drawing boxes ------------------------------------------------------------------------------

function drawFace(ctx, face, scaleX, scaleY, offsetX, offsetY, selected, unit) {
  const [x, y, w, h] = face.box;
  const left = offsetX + x * scaleX;
  const top = offsetY + y * scaleY;
  const color = colorFor(face.emotion);
  ctx.lineWidth = selected ? unit * 1.8 : unit;
  ctx.strokeStyle = color;
  ctx.shadowColor = selected ? color : "transparent";
  ctx.shadowBlur = selected ? unit * 4 : 0;
  ctx.strokeRect(left, top, w * scaleX, h * scaleY);
  ctx.shadowBlur = 0;

  const person = face.track ? `#${face.track} ` : "";
  const text = `${person}${face.emotion} ${percent(face.confidence)}`;
  const fontSize = Math.max(12, unit * 6);
  ctx.font = `600 ${fontSize}px system-ui, sans-serif`;
  const padding = fontSize * 0.3;
  const textWidth = ctx.measureText(text).width + padding * 2;
  const labelHeight = fontSize + padding * 2;
  const labelTop = top - labelHeight >= 0 ? top - labelHeight : top;
  ctx.fillStyle = color;
  ctx.fillRect(left - ctx.lineWidth / 2, labelTop, textWidth, labelHeight);
  ctx.fillStyle = "#111";
  ctx.textBaseline = "top";
  ctx.fillText(text, left - ctx.lineWidth / 2 + padding, labelTop + padding);
  drawLandmarks(ctx, face, scaleX, scaleY, offsetX, offsetY, unit);
}

// Five small dots (eyes, nose tip, mouth corners) with a dark rim, readable on any background.
function drawLandmarks(ctx, face, scaleX, scaleY, offsetX, offsetY, unit) {
  if (!face.landmarks) return;
  const radius = Math.max(1.5, unit * 0.9);
  for (const [x, y] of Object.values(face.landmarks)) {
    ctx.beginPath();
    ctx.arc(offsetX + x * scaleX, offsetY + y * scaleY, radius, 0, 2 * Math.PI);
    ctx.fillStyle = "#0ff";
    ctx.fill();
    ctx.lineWidth = Math.max(1, radius / 2);
    ctx.strokeStyle = "#111";
    ctx.stroke();
  }
}

// ---- webcam tracking ----------------------------------------------------------------------------

function iou(a, b) {
  const width = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const height = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = width * height;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

function similarity(a, b) {
  const overlap = iou(a, b);
  if (overlap >= TRACK_MIN_IOU) return overlap;
  const side = Math.max(a[2], a[3], b[2], b[3]);
  const shift = Math.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2) / side;
  const sizes = Math.max(a[2], b[2]) / Math.max(1, Math.min(a[2], b[2]));
  return shift <= TRACK_MAX_CENTRE_SHIFT && sizes <= 1.5 ? TRACK_MIN_IOU * (1 - shift / TRACK_MAX_CENTRE_SHIFT) : 0;
}

// Gives each face its person's `track` id and replaces its probabilities by the track's moving average.
class FaceTracker {
  constructor() {
    this.tracks = [];
    this.nextId = 1;
  }

  update(faces, nowMs) {
    this.tracks = this.tracks.filter((track) => nowMs - track.seenMs <= TRACK_KEEP_MS);
    const pairs = [];
    this.tracks.forEach((track, t) => faces.forEach((face, f) => pairs.push([similarity(track.box, face.box), t, f])));
    pairs.sort((p, q) => q[0] - p[0]);
    const assigned = new Array(faces.length).fill(null);
    const used = new Set();
    for (const [score, t, f] of pairs) {
      if (score <= 0) break;
      if (used.has(t) || assigned[f] !== null) continue;
      used.add(t);
      assigned[f] = this.tracks[t];
    }
    return faces.map((face, f) => {
      let track = assigned[f];
      if (track === null) {
        track = { id: this.nextId++, probabilities: null };
        this.tracks.push(track);
      }
      const names = Object.keys(face.probabilities);
      const current = names.map((name) => face.probabilities[name]);
      const step = track.probabilities ? 1 - 0.5 ** ((nowMs - track.seenMs) / SMOOTH_HALF_LIFE_MS) : 1;
      track.probabilities = track.probabilities
        ? track.probabilities.map((value, i) => value + step * (current[i] - value)) : current;
      track.box = face.box;
      track.seenMs = nowMs;
      const best = track.probabilities.indexOf(Math.max(...track.probabilities));
      const probabilities = Object.fromEntries(names.map((name, i) => [name, track.probabilities[i]]));
      return { ...face, track: track.id, probabilities, emotion: names[best], confidence: track.probabilities[best] };
    });
  }
}

// What was searched, for "no face found" messages.
function searchedFor() {
  const detector = state.detector;
  if (!detector) return "";
  if (detector.name === "none") return " (the server takes each image as one face)";
  const size = detector.min_face ? `, faces from ${detector.min_face} px` : "";
  return ` (detector ${detector.name}${size})`;
}

// ---- photo mode ---------------------------------------------------------------------------------

function renderPhoto() {
  const { bitmap, faces, selected, scaleX, scaleY } = state.photo;
  const canvas = $("photo-canvas");
  const ctx = canvas.getContext("2d");
  if (bitmap) {
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    ctx.drawImage(bitmap, 0, 0);
  }
  const unit = Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
  faces.forEach((face, index) => {
    if (index !== selected) drawFace(ctx, face, scaleX, scaleY, 0, 0, false, unit);
  });
  if (faces[selected]) drawFace(ctx, faces[selected], scaleX, scaleY, 0, 0, true, unit);
  canvas.dataset.faces = String(faces.length);

  const list = $("face-list");
  list.replaceChildren();
  faces.forEach((face, index) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("aria-pressed", String(index === selected));
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colorFor(face.emotion);
    const text = document.createElement("span");
    text.className = "face-label";
    text.textContent = `Face ${index + 1}: ${face.emotion} ${percent(face.confidence)}`;
    button.append(swatch, text);
    button.addEventListener("click", () => selectFace(index));
    item.append(button);
    list.append(item);
  });
  $("faces-empty").hidden = faces.length > 0;
  if (state.photo.analysed) {
    $("faces-empty").textContent = `No face found${searchedFor()}. Faces smaller than that, strongly turned ` +
      "away or hidden are missed: try a larger or closer photo.";
  }
  renderChart($("chart"), faces[selected]);
}

function selectFace(index) {
  state.photo.selected = index;
  renderPhoto();
}

function faceAtPoint(event) {
  const canvas = $("photo-canvas");
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * canvas.width / state.photo.scaleX;
  const y = ((event.clientY - rect.top) / rect.height) * canvas.height / state.photo.scaleY;
  let best = -1;
  let bestArea = Infinity;
  state.photo.faces.forEach((face, index) => {
    const [fx, fy, fw, fh] = face.box;
    if (x >= fx && x <= fx + fw && y >= fy && y <= fy + fh && fw * fh < bestArea) {
      best = index;
      bestArea = fw * fh;
    }
  });
  return best;
}

async function displayableBitmap(file) {
  // The photo as the browser shows it (EXIF-rotated like the server sees it), at most MAX_DISPLAY_SIDE wide
  // or high so that a large camera photo does not need a huge canvas; null if the browser cannot decode it.
  try {
    const full = await createImageBitmap(file, { imageOrientation: "from-image" });
    const fit = Math.min(1, MAX_DISPLAY_SIDE / Math.max(full.width, full.height));
    if (fit === 1) return full;
    const small = await createImageBitmap(full, {
      resizeWidth: Math.round(full.width * fit),
      resizeHeight: Math.round(full.height * fit),
      resizeQuality: "high",
    });
    full.close();
    return small;
  } catch {
    return null;
  }
}

async function analysePhoto(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    setStatus("photo-status", `${file.name} is not an image (${file.type}).`, true);
    return;
  }
  setStatus("photo-status", `Analysing ${file.name}…`);
  const form = new FormData();
  form.append("file", file, file.name);
  let response;
  const started = performance.now();
  try {
    response = await fetch("/v1/predict", { method: "POST", body: form });
  } catch {
    setStatus("photo-status", "Cannot reach the ferkit server.", true);
    return;
  }
  const body = await readJson(response);
  if (!response.ok) {
    setStatus("photo-status", body.error || `The server answered ${response.status}.`, true);
    return;
  }
  const elapsed = Math.round(performance.now() - started);

  const bitmap = await displayableBitmap(file);
  const { width, height } = body.image;
  state.photo.bitmap?.close();
  state.photo = {
    bitmap: bitmap,
    faces: body.faces,
    selected: body.faces.length ? 0 : -1,
    scaleX: bitmap ? bitmap.width / width : 1,
    scaleY: bitmap ? bitmap.height / height : 1,
    analysed: true,
  };
  $("photo-stage").hidden = !bitmap;
  $("dropzone").classList.add("compact");
  renderPhoto();

  const count = body.faces.length;
  const found = count === 0 ? `No face found in this photo${searchedFor()}.` :
    `${count} face${count > 1 ? "s" : ""} found.`;
  const display = bitmap ? "" : " (this browser cannot display the image format)";
  setStatus("photo-status", `${found} ${width}×${height} px, ${elapsed} ms${display}.`);
  $("panel-photo").dataset.result = count ? "faces" : "no-face";
}

function setUpPhoto() {
  const input = $("file-input");
  input.addEventListener("change", () => analysePhoto(input.files[0]));
  $("photo-canvas").addEventListener("click", (event) => {
    const index = faceAtPoint(event);
    if (index >= 0) selectFace(index);
  });
  const dropzone = $("dropzone");
  for (const target of [dropzone, $("photo-stage")]) {
    target.addEventListener("dragover", (event) => {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
    target.addEventListener("dragleave", () => dropzone.classList.remove("dragging"));
    target.addEventListener("drop", (event) => {
      event.preventDefault();
      dropzone.classList.remove("dragging");
      analysePhoto(event.dataTransfer.files[0]);
    });
  }
}

// ---- webcam mode --------------------------------------------------------------------------------

function cameraErrorMessage(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera access was denied. Allow the camera for this site in the browser settings, then press Start camera again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Connect a camera, or use the Photo tab.";
    case "NotReadableError":
    case "AbortError":
      return "The camera is busy or unavailable (another application may be using it).";
    default:
      return `Could not start the camera: ${error?.message || error}`;
  }
}

function measureFps(now) {
  const times = state.cam.frameTimes;
  times.push(now);
  while (times.length && now - times[0] > FPS_WINDOW_MS) times.shift();
  const fps = times.length > 1 ? ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]) : 0;
  $("fps").textContent = fps.toFixed(1);
}

function drawOverlay(faces, frameWidth, frameHeight) {
  const video = $("video");
  const overlay = $("overlay");
  const ratio = window.devicePixelRatio || 1;
  overlay.width = Math.round(overlay.clientWidth * ratio);
  overlay.height = Math.round(overlay.clientHeight * ratio);
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const fit = Math.min(overlay.width / video.videoWidth, overlay.height / video.videoHeight);
  const offsetX = (overlay.width - video.videoWidth * fit) / 2;
  const offsetY = (overlay.height - video.videoHeight * fit) / 2;
  const scaleX = (fit * video.videoWidth) / frameWidth;
  const scaleY = (fit * video.videoHeight) / frameHeight;
  const unit = Math.max(2, Math.round(overlay.width / 300));
  faces.forEach((face, index) => drawFace(ctx, face, scaleX, scaleY, offsetX, offsetY, index === 0, unit));
  overlay.dataset.boxes = String(faces.length);
}

function clearOverlay() {
  const overlay = $("overlay");
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  overlay.dataset.boxes = "0";
}

async function sendFrame(grab) {
  const video = $("video");
  const scale = Math.min(1, WEBCAM_MAX_WIDTH / video.videoWidth);
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.8));
  const started = performance.now();
  const response = await fetch("/v1/predict", {
    method: "POST",
    headers: { "Content-Type": "image/jpeg" },
    body: blob,
  });
  const body = await readJson(response);
  if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
  $("latency").textContent = String(Math.round(performance.now() - started));
  return body;
}

async function webcamLoop() {
  const grab = document.createElement("canvas");
  const video = $("video");
  const tracker = new FaceTracker();
  while (state.cam.running) {
    const started = performance.now();
    if (video.readyState < 2 || !video.videoWidth) {
      await sleep(50);
      continue;
    }
    try {
      const body = await sendFrame(grab);
      if (!state.cam.running) break;
      const faces = tracker.update(body.faces, performance.now());
      drawOverlay(faces, grab.width, grab.height);
      measureFps(performance.now());
      const count = faces.length;
      const main = faces[0];
      $("live-summary").textContent = count
        ? `${count} face${count > 1 ? "s" : ""} · largest (person ${main.track}): ${main.emotion} ` +
          percent(main.confidence)
        : `No face in view${searchedFor()}.`;
      renderChart($("live-chart"), main);
      setStatus("webcam-status", "Live.");
    } catch (error) {
      setStatus("webcam-status", `Frame failed: ${error.message}. Retrying…`, true);
      await sleep(1000);
    }
    const wait = FRAME_INTERVAL_MS - (performance.now() - started);
    if (wait > 0) await sleep(wait);
  }
}

async function startCamera() {
  if (state.cam.running) return;
  if (!navigator.mediaDevices?.getUserMedia) {
    setStatus("webcam-status",
      "This page cannot use a camera here: browsers allow cameras only on https:// or http://localhost pages.", true);
    return;
  }
  setStatus("webcam-status", "Asking for the camera…");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
      audio: false,
    });
  } catch (error) {
    setStatus("webcam-status", cameraErrorMessage(error), true);
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  try {
    await video.play();
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    setStatus("webcam-status", `Could not play the camera stream: ${error.message}`, true);
    return;
  }
  state.cam = { stream, running: true, frameTimes: [] };
  $("webcam-placeholder").hidden = true;
  $("webcam-start").disabled = true;
  $("webcam-stop").disabled = false;
  setStatus("webcam-status", "Camera on; sending frames…");
  webcamLoop();
}

function stopCamera() {
  const { stream } = state.cam;
  state.cam.running = false;
  stream?.getTracks().forEach((track) => track.stop());
  $("video").srcObject = null;
  clearOverlay();
  $("fps").textContent = "0.0";
  $("latency").textContent = "–";
  $("webcam-placeholder").hidden = false;
  $("webcam-start").disabled = false;
  $("webcam-stop").disabled = true;
  if (stream) setStatus("webcam-status", "Camera off.");
}

// ---- tabs ---------------------------------------------------------------------------------------

function showTab(name) {
  for (const tab of ["photo", "webcam"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name !== "webcam") stopCamera();
}

document.addEventListener("DOMContentLoaded", () => {
  $("tab-photo").addEventListener("click", () => showTab("photo"));
  $("tab-webcam").addEventListener("click", () => showTab("webcam"));
  $("webcam-start").addEventListener("click", startCamera);
  $("webcam-stop").addEventListener("click", stopCamera);
  setUpPhoto();
  loadModelInfo();
});
