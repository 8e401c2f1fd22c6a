// thetorrent front page: uploads each chosen or dropped file with fetch (one request per
// file, a few at a time), shows its hash or error, and keeps the count up to date.
// Without JavaScript the form posts to /upload and the server answers with a result page.
(() => {
  "use strict";
  const form = document.getElementById("upload");
  const input = document.getElementById("torrent");
  const results = document.getElementById("results");
  if (!form || !input || !results || !window.fetch || !window.FormData) return;
  const countLine = document.getElementById("count-line");
  const HASH = /^[0-9A-F]{40}$/i;
  const PARALLEL = 3;
  const queue = [];
  let active = 0;
  let countTimer = 0;

  document.documentElement.classList.add("js");
  for (const e of form.querySelectorAll(".js-only")) e.hidden = false;

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  function add(files) {
    for (const file of Array.from(files || [])) {
      const li = el("li", "pending");
      const status = el("span", "status", "uploading…");
      li.append(el("span", "fname", file.name || "(no name)"), " ", status);
      results.append(li);
      queue.push({ file, li, status });
    }
    pump();
  }

  function pump() {
    while (active < PARALLEL && queue.length) {
      const job = queue.shift();
      active++;
      upload(job).finally(() => { active--; pump(); });
    }
  }

  async function upload({ file, li, status }) {
    let result = "failed", hash = "", error = "", already = false;
    try {
      const body = new FormData();
      body.append("torrent", file, file.name);
      const r = await fetch("/api/upload", { method: "POST", body });
      result = r.headers.get("X-Thetorrent-Result") || "failed";
      hash = (r.headers.get("X-Thetorrent-Hash") || "").trim();
      already = r.headers.get("X-Thetorrent-Stored") === "already";
      // The body is the hash or the message, one line, in UTF-8 (headers may not be).
      const text = (await r.text()).trim().split("\n")[0];
      error = text || r.headers.get("X-Thetorrent-Error") || "HTTP " + r.status;
    } catch (e) {
      error = "not uploaded: the connection failed";
    }
    if (result === "stored" && HASH.test(hash)) {
      hash = hash.toUpperCase();
      const a = el("a");
      a.href = "/info/" + hash;
      a.append(el("code", "hash", hash));
      li.className = "ok";
      // The same words as the result page of the form without JavaScript.
      status.textContent = already ? "already stored" : "stored";
      li.append(" ", a);
      if (!already) refreshCount();
    } else {
      li.className = "err";
      status.textContent = "failed:";
      li.append(" ", el("span", "msg", error));
    }
  }

  function refreshCount() {
    if (!countLine) return;
    clearTimeout(countTimer);
    countTimer = setTimeout(async () => {
      try {
        const r = await fetch("/api/stats", { cache: "no-store" });
        const n = (await r.json()).count;
        if (typeof n !== "number") return;
        const one = n === 1;
        countLine.replaceChildren(one ? "There is " : "There are ",
          el("strong", null, n.toLocaleString("en-US")),
          one ? " stored torrent." : " stored torrents.");
      } catch (e) { /* the count stays as it was */ }
    }, 250);
  }

  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  form.addEventListener("submit", (e) => { e.preventDefault(); add(input.files); input.value = ""; });

  // Files dropped anywhere on the page are uploaded (instead of the browser opening them).
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files");
  let depth = 0;
  document.addEventListener("dragenter", (e) => {
    if (hasFiles(e)) { depth++; form.classList.add("dragging"); }
  });
  document.addEventListener("dragleave", (e) => {
    if (hasFiles(e) && --depth <= 0) { depth = 0; form.classList.remove("dragging"); }
  });
  document.addEventListener("dragover", (e) => {
    if (hasFiles(e)) { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; }
  });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    form.classList.remove("dragging");
    add(e.dataTransfer.files);
  });
})();
