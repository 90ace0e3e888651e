// The gallery page's behaviour. No framework and no build step: plain DOM calls, and
// every name or message from a server is set with textContent, never parsed as HTML.
"use strict";

// Where this page is mounted (/ui/ or /function/gallery/): its own API is relative to it.
const HERE = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
const GREYSCALE = "/function/greyscale";
const GET_OBJECT = "/function/get-object";
const SHA256 = /^[0-9a-f]{64}$/;

// What each status the functions answer means for the person who asked.
const MESSAGES = {
  400: "The request was not understood",
  403: "Refused: that URL points to an internal address (loopback, private or link-local), which greyfaas does not fetch",
  404: "Not found",
  405: "Not allowed",
  408: "Timed out",
  413: "Too large: the image is over the size, pixel or frame limit",
  415: "Not an image greyfaas can convert (JPEG, PNG, GIF or WebP)",
  422: "The image is damaged and could not be decoded",
  429: "Busy: too many requests, try again shortly",
  502: "The image's server failed or could not be reached",
  503: "The object store is unavailable, try again shortly",
  504: "Timed out waiting for the download or conversion",
};

function explain(status, detail) {
  const known = MESSAGES[status] || (status >= 500 ? "The server failed" : "The request failed");
  return `${known} (${status})` + (detail ? `: ${detail}` : "");
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function bytesText(n) {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB (${n} bytes)`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB (${n} bytes)`;
  return `${n} bytes`;
}

function objectUrl(path) {
  const [, area, name] = path.split("/");
  if (!["incoming", "processed"].includes(area) || !SHA256.test(name)) return null;
  return `${GET_OBJECT}/${area}/${name}`;
}

// ---- jobs: one line of progress per URL or file -------------------------------

const jobs = document.getElementById("jobs");

function addJob(label) {
  const status = el("span", { class: "status" }, "waiting");
  const bar = el("progress", { "aria-label": `Progress of ${label}` });
  const item = el("li", {}, el("span", { class: "label" }, label), " — ", status, " ", bar);
  jobs.prepend(item);
  return {
    item,
    step(text, fraction) {
      status.textContent = text;
      if (fraction === undefined) bar.removeAttribute("value");
      else bar.value = fraction;
    },
    fail(text) {
      item.classList.add("error");
      status.textContent = text;
      bar.remove();
    },
    done(text) {
      item.classList.add("done");
      status.textContent = text;
      bar.remove();
    },
  };
}

async function answer(response) {
  let json = null;
  try { json = await response.json(); } catch (_) { /* not JSON: status says it */ }
  return { status: response.status, json };
}

async function convertPath(job, path) {
  job.step("converting…");
  const { status, json } = await answer(await fetch(GREYSCALE, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path }),
  }));
  return finish(job, status, json);
}

function finish(job, status, json) {
  if (status === 201 && json && typeof json.path === "string") {
    job.done(`converted: ${json.path}`);
    loadGallery(1);
    return true;
  }
  job.fail(explain(status, json && json.error));
  return false;
}

async function convertUrl(url) {
  const job = addJob(url);
  job.step("downloading and converting…");
  try {
    const { status, json } = await answer(await fetch(GREYSCALE, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ url }),
    }));
    finish(job, status, json);
  } catch (err) {
    job.fail(`Could not reach the gateway: ${err}`);
  }
}

// Uploads go through XMLHttpRequest: fetch reports no upload progress.
function upload(file, job) {
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", HERE + "upload");
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.upload.onprogress = (e) => {
      if (e.lengthComputable) job.step(`uploading ${Math.round((100 * e.loaded) / e.total)}%`, e.loaded / e.total);
    };
    request.onload = () => {
      let json = null;
      try { json = JSON.parse(request.responseText); } catch (_) { /* status says it */ }
      resolve({ status: request.status, json });
    };
    request.onerror = () => resolve({ status: 0, json: { error: "the upload did not reach the gateway" } });
    request.send(file);
  });
}

async function convertFile(file) {
  const job = addJob(file.name);
  job.step("uploading", 0);
  const { status, json } = await upload(file, job);
  if (status !== 201 || !json || typeof json.path !== "string") {
    job.fail(explain(status, json && json.error));
    return;
  }
  try {
    await convertPath(job, json.path);
  } catch (err) {
    job.fail(`Could not reach the gateway: ${err}`);
  }
}

document.getElementById("url-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const field = document.getElementById("urls");
  const urls = field.value.split("\n").map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) {
    addJob("URLs").fail("Enter at least one URL");
    return;
  }
  field.value = "";
  urls.forEach(convertUrl);
});

const files = document.getElementById("files");
document.getElementById("file-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (files.files.length === 0) {
    addJob("Files").fail("Choose at least one file");
    return;
  }
  Array.from(files.files).forEach(convertFile);
  files.value = "";
});

const dropZone = document.getElementById("drop-zone");
dropZone.addEventListener("dragover", (e) => { e.preventDefault(); dropZone.classList.add("over"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  dropZone.classList.remove("over");
  Array.from(e.dataTransfer.files).forEach(convertFile);
});

// ---- gallery ------------------------------------------------------------------

const gallery = document.getElementById("gallery");
const galleryNote = document.getElementById("gallery-note");
const newer = document.getElementById("newer");
const older = document.getElementById("older");
const pageLabel = document.getElementById("page-label");
let currentPage = 1;

function figure(role, object) {
  const url = object && objectUrl(object.path);
  if (!url) {
    return el("figure", { class: role }, el("figcaption", {}, `${role === "original" ? "Original" : "Greyscale"}: not recorded`));
  }
  const format = object.content_type.replace(/^image\//, "").toUpperCase();
  const dimensions = el("span", { class: "dimensions" }, "… × … px");
  const img = el("img", {
    src: url,
    alt: `${role === "original" ? "Original" : "Greyscale"} image ${object.name.slice(0, 12)}…, ${format}`,
    "data-name": object.name,
    loading: "lazy",
  });
  img.addEventListener("load", () => { dimensions.textContent = `${img.naturalWidth} × ${img.naturalHeight} px`; });
  img.addEventListener("error", () => { dimensions.textContent = "could not load"; });
  return el("figure", { class: role },
    el("a", { href: url, target: "_blank", rel: "noopener" }, img),
    el("figcaption", {},
      el("strong", {}, role === "original" ? "Original" : "Greyscale"), ` · ${format} · `, dimensions,
      ` · ${bytesText(object.bytes)}`, el("br"), el("code", {}, object.name)));
}

function openViewer(item) {
  const holder = document.getElementById("viewer-images");
  holder.replaceChildren();
  for (const [role, object] of [["Original", item.original], ["Greyscale", item.processed]]) {
    const url = object && objectUrl(object.path);
    if (url) holder.append(el("img", { src: url, alt: `${role} image ${object.name}, full size` }));
  }
  document.getElementById("viewer").showModal();
}
document.getElementById("viewer-close").addEventListener("click", () => document.getElementById("viewer").close());

function render(data) {
  gallery.replaceChildren();
  for (const item of data.items) {
    const view = el("button", { type: "button" }, "View both full size");
    view.addEventListener("click", () => openViewer(item));
    gallery.append(el("li", {
      "data-original": item.original ? item.original.name : "",
      "data-processed": item.processed.name,
    }, el("div", { class: "pair" }, figure("original", item.original), figure("processed", item.processed)), view));
  }
  galleryNote.textContent = data.total === 0
    ? "Nothing converted yet: submit a URL or upload an image above."
    : `${data.total} greyscale result${data.total === 1 ? "" : "s"}, newest first.`;
  pageLabel.textContent = `Page ${data.page} of ${data.pages}`;
  newer.disabled = data.page <= 1;
  older.disabled = data.page >= data.pages;
}

async function loadGallery(page) {
  try {
    const { status, json } = await answer(await fetch(`${HERE}api/gallery?page=${page}`));
    if (status !== 200 || !json) {
      galleryNote.textContent = explain(status, json && json.error);
      return;
    }
    currentPage = json.page;
    render(json);
  } catch (err) {
    galleryNote.textContent = `Could not reach the gallery: ${err}`;
  }
}
newer.addEventListener("click", () => loadGallery(currentPage - 1));
older.addEventListener("click", () => loadGallery(currentPage + 1));

// ---- function status, as the OpenFaaS portal shows it -------------------------

const statusNote = document.getElementById("status-note");
const statusRows = document.querySelector("#functions tbody");

// The gateway guards /system/* with Basic auth and answers 401 with WWW-Authenticate,
// which makes a browser prompt for a login. Polling must never raise that prompt
// unasked, so it sends no credentials until the person chooses to log in.
let statusCredentials = "omit";

function offerLogin() {
  const button = el("button", { type: "button", id: "status-login" }, "Log in");
  button.addEventListener("click", () => {
    statusCredentials = "same-origin"; // the browser asks for the gateway's admin login
    loadStatus();
  });
  statusNote.replaceChildren("Function status needs the gateway's admin login (401). ", button);
}

async function loadStatus() {
  try {
    const response = await fetch("/system/functions", { credentials: statusCredentials });
    if (response.status === 401) {
      if (!document.getElementById("status-login")) {
        offerLogin();
      }
      return;
    }
    const { status, json } = await answer(response);
    if (status !== 200 || !Array.isArray(json)) {
      statusNote.textContent = explain(status, json && json.error);
      return;
    }
    statusRows.replaceChildren(...json.map((f) => {
      const decisions = (f.greyfaas && f.greyfaas.scaling && f.greyfaas.scaling.decisions) || [];
      return el("tr", { "data-function": String(f.name) },
        el("th", { scope: "row" }, String(f.name)),
        el("td", {}, `${f.availableReplicas ?? "?"} / ${f.replicas ?? "?"}`),
        el("td", { class: "invocations" }, String(f.invocationCount ?? 0)),
        el("td", {}, decisions.length ? String(decisions[decisions.length - 1]) : "—"));
    }));
    statusNote.textContent = `Updated ${new Date().toLocaleTimeString()}, every 2 s.`;
  } catch (err) {
    statusNote.textContent = `Could not reach the gateway: ${err}`;
  }
}

loadGallery(1);
loadStatus();
setInterval(loadStatus, 2000);
