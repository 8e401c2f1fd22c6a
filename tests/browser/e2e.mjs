// End-to-end test of thetorrent's pages in headless Chromium, driven by tests/browser.rs.
//
// Owns: what a person does in a browser — the front page's count, uploads through the file
// input (JavaScript, a file stored twice says "already stored") and through the plain form
// (JavaScript off), the lookup box with a magnet link and with text it does not take, the
// torrent page and the file name a download is saved under, the API page, an upload address
// opened in the browser, the mirror lists — and screenshots of each page at 1280 and 420 px
// wide (no page may scroll sideways at 420). Must never: talk to anything but the server under
// test, download a browser, or pass when a step did not happen (every wait has a timeout and
// every check throws with what it saw).
//
// Input: one JSON argument (see tests/browser.rs): { base, chromium, shots, js: [{path, hash}],
// bad: {path}, nojs: {path, hash}, lookup: {hash, name, file} }. Output: one line per step on
// stdout; exit 0 when every check held, 1 with the reason otherwise.
import { chromium } from "playwright-core";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";

/// Longest wait for any one thing to appear in a page.
const STEP_TIMEOUT_MS = 15_000;
/// The widths every page is photographed at: a desktop window and a phone.
const WIDE = 1280;
const NARROW = 420;
const HEIGHT = 800;
/// Flags that work on this machine (no sandbox as root, no GPU, no network but the server).
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const cfg = JSON.parse(process.argv[2] || "{}");
for (const k of ["base", "chromium", "shots", "js", "bad", "nojs", "lookup"]) {
  if (!cfg[k]) throw new Error(`e2e.mjs: missing config key ${k}`);
}
mkdirSync(cfg.shots, { recursive: true });

const step = (msg) => console.log(`e2e: ${msg}`);
function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
}
const parseCount = (text) => {
  const m = /There (?:are|is) ([0-9,]+) stored torrents?\./.exec(text.replace(/\s+/g, " "));
  check(m, `count sentence not found in ${JSON.stringify(text)}`);
  return Number(m[1].replace(/,/g, ""));
};

// Every page error, console error (Chromium logs one for each 4xx/5xx answer), failed request
// and request to another origin is a test failure (unless the test asked for that status).
const problems = [];
function watch(page, label) {
  page.on("pageerror", (e) => problems.push(`${label}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`${label}: console error: ${m.text()} (${m.location()?.url ?? "?"})`);
  });
  page.on("requestfailed", (r) =>
    problems.push(`${label}: request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(cfg.base) && !r.url().startsWith("data:")) {
      problems.push(`${label}: request to another origin: ${r.url()}`);
    }
  });
}

// Photographs `page` at both widths (as `NAME-1280.png` and `NAME-420.png`) and checks that
// at the narrow one nothing makes it scroll sideways; leaves the page at the wide width.
async function shot(page, name) {
  for (const width of [WIDE, NARROW]) {
    await page.setViewportSize({ width, height: HEIGHT });
    const path = join(cfg.shots, `${name}-${width}.png`);
    await page.screenshot({ path, fullPage: true });
    if (width === NARROW) {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, `${name} fits ${NARROW} px (overflows by ${overflow}px)`);
    }
    step(`screenshot ${path}`);
  }
  await page.setViewportSize({ width: WIDE, height: HEIGHT });
}

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: CHROMIUM_FLAGS,
  timeout: 30_000,
});
try {
  const ctx = await browser.newContext({ viewport: { width: WIDE, height: HEIGHT }, acceptDownloads: true });
  ctx.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await ctx.newPage();
  watch(page, "js");

  // 1. The front page and its count.
  let resp = await page.goto(cfg.base + "/");
  check(resp.status() === 200, `GET / answered ${resp.status()}`);
  const before = parseCount(await page.textContent("#count-line"));
  step(`front page: count ${before}`);
  check(await page.isVisible("#q"), "the lookup box is visible");
  check(await page.isHidden("#upload button.no-js"),
    "with JavaScript the Upload button is hidden (files go up when chosen)");
  await shot(page, "01-front");

  // 2. Two files through the file input: app.js uploads them with fetch.
  await page.setInputFiles("#torrent", cfg.js.map((f) => f.path));
  await page.waitForFunction(
    (n) => document.querySelectorAll("#results li.ok, #results li.err").length >= n,
    cfg.js.length);
  const rows = await page.$$eval("#results li", (lis) =>
    lis.map((li) => ({ cls: li.className, text: li.textContent.trim(),
      hash: li.querySelector("code.hash")?.textContent.trim() ?? null,
      href: li.querySelector("a")?.getAttribute("href") ?? null })));
  check(rows.length === cfg.js.length, `${cfg.js.length} result rows, got ${JSON.stringify(rows)}`);
  for (const r of rows) check(r.cls === "ok", `upload row is ok: ${JSON.stringify(r)}`);
  const got = rows.map((r) => r.hash).sort();
  const want = cfg.js.map((f) => f.hash).sort();
  check(JSON.stringify(got) === JSON.stringify(want),
    `hashes shown ${JSON.stringify(got)} equal libtorrent's ${JSON.stringify(want)}`);
  for (const r of rows) check(r.href === `/info/${r.hash}`, `row links to its page: ${r.href}`);
  step(`uploaded with JavaScript: ${got.join(", ")}`);
  await page.waitForFunction(
    (n) => document.getElementById("count-line").textContent.replace(/,/g, "").includes(` ${n} `),
    before + cfg.js.length);
  const after = parseCount(await page.textContent("#count-line"));
  check(after === before + cfg.js.length, `count went from ${before} to ${before + cfg.js.length}: ${after}`);
  step(`count now ${after}`);

  // A file libtorrent rejects: its row says why, the count stays.
  await page.setInputFiles("#torrent", cfg.bad.path);
  await page.waitForFunction(
    (n) => document.querySelectorAll("#results li.ok, #results li.err").length >= n,
    cfg.js.length + 1);
  const bad = await page.$eval("#results li:last-child", (li) => ({
    cls: li.className, status: li.querySelector(".status")?.textContent,
    msg: li.querySelector(".msg")?.textContent.trim() ?? "" }));
  check(bad.cls === "err" && bad.status === "failed:", `rejected file's row: ${JSON.stringify(bad)}`);
  check(bad.msg.length > 5 && !/^HTTP \d+$/.test(bad.msg), `the row says why: ${JSON.stringify(bad.msg)}`);
  step(`rejected with JavaScript: ${bad.msg}`);
  await page.waitForTimeout(500); // a count refresh would have landed by now
  check(parseCount(await page.textContent("#count-line")) === after, "a rejected file leaves the count");

  // The first file again: its row says "already stored", as the form's result page does.
  await page.setInputFiles("#torrent", cfg.js[0].path);
  await page.waitForFunction(
    (n) => document.querySelectorAll("#results li.ok, #results li.err").length >= n,
    cfg.js.length + 2);
  const again = await page.$eval("#results li:last-child", (li) => ({
    cls: li.className, status: li.querySelector(".status")?.textContent,
    hash: li.querySelector("code.hash")?.textContent.trim() }));
  check(again.cls === "ok" && again.status === "already stored" && again.hash === cfg.js[0].hash,
    `a file stored before says so: ${JSON.stringify(again)}`);
  step(`uploaded again with JavaScript: ${again.status}`);
  await page.waitForTimeout(500);
  check(parseCount(await page.textContent("#count-line")) === after, "a file stored before leaves the count");
  await shot(page, "02-uploaded-js");

  // 3. The same form without JavaScript: a plain POST to /upload and a result page.
  const nojs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: WIDE, height: HEIGHT } });
  nojs.setDefaultTimeout(STEP_TIMEOUT_MS);
  const plain = await nojs.newPage();
  watch(plain, "no-js");
  await plain.goto(cfg.base + "/");
  check(parseCount(await plain.textContent("#count-line")) === after, "the count is the same without JavaScript");
  check(await plain.isVisible("#upload button.no-js"), "without JavaScript the Upload button is visible");
  await plain.setInputFiles("#torrent", cfg.nojs.path);
  const [result] = await Promise.all([
    plain.waitForNavigation(),
    plain.click("#upload button[type=submit]"),
  ]);
  check(result.status() === 200, `POST /upload answered ${result.status()}`);
  check(new URL(plain.url()).pathname === "/upload", `result page at /upload: ${plain.url()}`);
  check((await plain.textContent("h1")).trim() === "Upload result", "result page heading");
  const nojsHash = (await plain.textContent(".results li.ok code.hash")).trim();
  check(nojsHash === cfg.nojs.hash, `no-JS result hash ${nojsHash} equals ${cfg.nojs.hash}`);
  check((await plain.textContent(".summary")).includes("1 stored, 0 failed"), "result summary");
  step(`uploaded without JavaScript: ${nojsHash}`);
  await shot(plain, "03-upload-result-nojs");
  await plain.goto(cfg.base + "/");
  check(parseCount(await plain.textContent("#count-line")) === after + 1, "count rendered by the server went up by one");
  await nojs.close();

  // 4. Paste a magnet link into the lookup box: the torrent's page, with its name.
  await page.goto(cfg.base + "/");
  const magnet = `magnet:?xt=urn:btih:${cfg.lookup.hash.toLowerCase()}&dn=${encodeURIComponent(cfg.lookup.name)}`
    + "&tr=udp%3A%2F%2Ftracker.example%3A80";
  await page.fill("#q", magnet);
  await Promise.all([page.waitForURL(`**/info/${cfg.lookup.hash}`), page.press("#q", "Enter")]);
  const name = (await page.textContent("h1")).trim();
  check(name === cfg.lookup.name, `torrent page shows the name ${JSON.stringify(cfg.lookup.name)}: ${JSON.stringify(name)}`);
  const facts = await page.textContent("dl.facts");
  check(facts.includes(cfg.lookup.hash), "torrent page shows the info hash");
  const dl = await page.getAttribute("a[download]", "href");
  check(dl === `/torrent/${cfg.lookup.hash}.torrent`, `download link ${dl}`);
  const file = await page.request.get(cfg.base + dl);
  check(file.status() === 200 && file.headers()["content-type"] === "application/x-bittorrent",
    `download link answers the file: ${file.status()} ${file.headers()["content-type"]}`);
  const magnetShown = await page.textContent("code.magnet");
  check(magnetShown.startsWith(`magnet:?xt=urn:btih:${cfg.lookup.hash}`), `magnet link on the page: ${magnetShown}`);
  for (const fact of ["Stored here", "Piece size"]) {
    check(facts.includes(fact), `torrent page shows "${fact}": ${facts}`);
  }
  step(`lookup by magnet link: ${page.url()} shows ${JSON.stringify(name)}`);
  await shot(page, "04-info");

  // The download link saves the file under the torrent's name (Content-Disposition).
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("a[download]")]);
  check(download.suggestedFilename() === cfg.lookup.file,
    `saved as ${JSON.stringify(download.suggestedFilename())}, not ${JSON.stringify(cfg.lookup.file)}`);
  const saved = await download.path();
  check(saved && statSync(saved).size > 1000, `the download completed: ${saved}`);
  step(`download saved as ${download.suggestedFilename()}`);
  // The file's address without ".torrent" leads to it.
  const bare = await page.request.get(`${cfg.base}/torrent/${cfg.lookup.hash}`, { maxRedirects: 0 });
  check(bare.status() === 301 && bare.headers()["location"] === `/torrent/${cfg.lookup.hash}.torrent`,
    `/torrent/HASH redirects: ${bare.status()} ${bare.headers()["location"]}`);

  // Text the lookup box does not take: the box keeps it and says what it takes.
  await page.goto(cfg.base + "/");
  const typed = "debian 9.4 netinst";
  await page.fill("#q", typed);
  await Promise.all([page.waitForURL("**/lookup?**"), page.press("#q", "Enter")]);
  check(await page.inputValue("#q") === typed, `the box keeps what was typed: ${await page.inputValue("#q")}`);
  const said = await page.textContent("#q-error");
  check(said.includes(typed) && said.includes("not an info hash or a magnet link"), `the page says why: ${said}`);
  check((await page.textContent("#q-hint")).includes("40 hex digits"), "the page says what the box takes");
  step(`lookup of ${JSON.stringify(typed)}: ${said}`);
  await shot(page, "10-lookup-error");

  // An upload address opened in the browser: a page with the way to upload.
  resp = await page.goto(cfg.base + "/api/upload");
  check(resp.status() === 405, `GET /api/upload answered ${resp.status()}`);
  check((await page.textContent("h1")).includes("This address takes uploads"), "the upload address explains itself");
  await shot(page, "11-upload-address");
  await Promise.all([page.waitForURL(cfg.base + "/"), page.click("text=Upload with the form")]);
  step("upload address: a page that links the form");

  // 5. The API page, with the host filled into the examples.
  resp = await page.goto(cfg.base + "/api");
  check(resp.status() === 200, `GET /api answered ${resp.status()}`);
  check((await page.textContent("h1")).trim() === "API", "API page heading");
  const pres = await page.$$eval("pre code", (cs) => cs.map((c) => c.textContent));
  check(pres.length >= 5, `at least five examples: ${pres.length}`);
  check(pres.every((p) => p.includes(cfg.base)), "every example names this server");
  step(`API page: ${pres.length} examples`);
  await shot(page, "05-api");

  // 6. The mirror feed, as a browser sees it: today's list links to the three hashes.
  resp = await page.goto(cfg.base + "/sync/");
  check(resp.status() === 200, `GET /sync/ answered ${resp.status()}`);
  check(await page.isVisible("header.site"), "/sync/ wears the site's layout");
  const heads = await page.$$eval("table.days th", (ths) => ths.map((t) => t.textContent.trim()));
  check(JSON.stringify(heads) === JSON.stringify(["Day (UTC)", "Torrents stored", "List"]),
    `the day table labels its columns: ${JSON.stringify(heads)}`);
  const lists = await page.$$eval("table.days a[href$='.txt']", (as) => as.map((a) => a.getAttribute("href")));
  check(lists.length === 1 && /^\d{8}\.txt$/.test(lists[0]), `one day list linked: ${JSON.stringify(lists)}`);
  await shot(page, "06-sync");
  const list = await page.request.get(`${cfg.base}/sync/${lists[0]}`);
  const listed = (await list.text()).split("\n").filter(Boolean).sort();
  const stored = [...cfg.js.map((f) => f.hash), cfg.nojs.hash].sort();
  check(JSON.stringify(listed) === JSON.stringify(stored), `the day list has the three hashes: ${JSON.stringify(listed)}`);
  step(`sync feed: ${lists[0]} lists ${listed.length} hashes`);

  // 7. A page that does not exist is a 404 page, not a 200.
  resp = await page.goto(cfg.base + "/no/such/page");
  check(resp.status() === 404, `GET /no/such/page answered ${resp.status()}`);
  // The errors asked for: the rejected upload's 400, this 404, the lookup's 400 and the
  // upload address's 405.
  problems.splice(0, problems.length, ...problems.filter((p) =>
    !(p.includes("/no/such/page") && p.includes("404"))
    && !(p.includes("/api/upload") && (p.includes("400") || p.includes("405")))
    && !(p.includes("/lookup?") && p.includes("400"))
    // A download hands the response over to the download manager, and a page that navigates
    // away cancels what it was still loading (its favicon): Chromium reports both as aborted
    // requests, which are not errors of the page (the downloaded file is checked above).
    && !(p.includes("request failed") && p.includes("ERR_ABORTED"))));
  await shot(page, "07-not-found");

  // 8. On a phone (a touch screen, 375 px, twice the pixels): the front page and the torrent
  // page fit it too.
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, deviceScaleFactor: 2 });
  const small = await phone.newPage();
  watch(small, "phone");
  for (const [path, name] of [["/", "08-front-phone"], [`/info/${cfg.lookup.hash}`, "09-info-phone"]]) {
    await small.goto(cfg.base + path);
    const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `${path} fits a phone screen (overflows by ${overflow}px)`);
    const file = join(cfg.shots, `${name}.png`);
    await small.screenshot({ path: file, fullPage: true });
    step(`screenshot ${file}`);
  }
  await phone.close();

  check(problems.length === 0, `no errors in the pages:\n  ${problems.join("\n  ")}`);
  step("all checks passed");
} catch (e) {
  console.error(`e2e: FAILED: ${e.message}`);
  console.error(problems.length ? `problems seen in the pages:\n  ${problems.join("\n  ")}` : "");
  process.exitCode = 1;
} finally {
  await browser.close();
}
