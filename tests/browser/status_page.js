// status_page.js: profcol's status page and flame graph files in Debian's
// chromium, driven by Playwright (playwright-core, the system browser).
// Run by tests/integration/test_status_page.sh, which starts profcol and
// passes, in the environment:
//   UI_URL      the status page, e.g. http://127.0.0.1:PORT
//   INGEST_URL  the pyroscope receiver's /ingest URL (service name in it)
//   BASE_PROF   a real Go CPU profile (pprof), NEW_PROF the same with a
//               regression injected into TOP_FN
//   TOP_FN, TOP_SHARE  google/pprof's top function of BASE_PROF, flat %
//   CPU_SVG, DIFF_SVG  files written by `profcol flamegraph` / `diff --svg`
//   SHOTS       where the screenshots go
// Prints "PASS: ..." / "FAIL: ..." lines; exits 1 on any failure.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

const env = (k) => {
  if (!process.env[k]) { throw new Error('missing ' + k); }
  return process.env[k];
};
const UI = env('UI_URL');
const TOP = env('TOP_FN');
const TOP_SHARE = parseFloat(env('TOP_SHARE'));
const SHOTS = env('SHOTS');
let failed = 0;
const pass = (m) => console.log('PASS: ' + m);
const fail = (m) => { failed++; console.log('FAIL: ' + m); };
const check = (ok, m) => (ok ? pass(m) : fail(m));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function ingest(file) {
  const r = await fetch(env('INGEST_URL'), {
    method: 'POST', body: fs.readFileSync(file),
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (r.status !== 200) { throw new Error('ingest answered ' + r.status); }
}

async function api(p) {
  const r = await fetch(UI + p);
  return r.json();
}

// Waits until f() is true, up to ms.
async function until(f, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) { return true; }
    await sleep(100);
  }
  return false;
}

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

// A browser with a fresh profile directory (Playwright passes it as
// --user-data-dir); extra: context options (javaScriptEnabled, ...).
async function launch(extra) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'profcol-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, Object.assign({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1300, height: 900 },
    timeout: 60000,
  }, extra || {}));
  ctx.profcolDir = dir;
  return ctx;
}

async function close(ctx) {
  await ctx.close();
  fs.rmSync(ctx.profcolDir, { recursive: true, force: true });
}

// Every request a page makes, to prove nothing comes from elsewhere.
function recordRequests(page) {
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  return urls;
}

async function counter(page, key) {
  const t = await page.locator(`tspan[data-c="${key}"]`).first().textContent();
  return parseInt(t, 10);
}

async function pageChecks(browser) {
  const page = await browser.newPage();
  const urls = recordRequests(page);
  await page.goto(UI + '/');
  check(await page.title() === 'profcol status', 'the page loads');
  const comps = await page.locator('svg.graph g.comp').evaluateAll(
    (gs) => gs.map((g) => g.getAttribute('data-id')).sort().join(','));
  check(comps === 'debug,filter,otlphttp/down,pyroscope', 'the graph shows the configured components: ' + comps);
  const edges = await page.locator('svg.graph path.edge').count();
  check(edges === 3, `the graph draws receiver -> processor -> exporters (${edges} edges)`);
  const before = await counter(page, 'receiver/pyroscope/accepted');
  const sentBefore = await counter(page, 'exporter/debug/sent');
  await ingest(env('BASE_PROF'));
  // The page is not reloaded: its script refreshes the counters.
  const moved = await until(async () =>
    (await counter(page, 'receiver/pyroscope/accepted')) === before + 1 &&
    (await counter(page, 'exporter/debug/sent')) === sentBefore + 1, 10000);
  check(moved, `counters move without a reload: accepted ${before} -> ` +
    `${await counter(page, 'receiver/pyroscope/accepted')}, sent ${sentBefore} -> ` +
    `${await counter(page, 'exporter/debug/sent')}`);
  const failedMoved = await until(async () =>
    (await counter(page, 'exporter/otlphttp/down/failed')) >= 1, 15000);
  check(failedMoved, 'the failing exporter\'s failed counter moves');
  await until(async () => (await api('/api/series')).series.length > 0, 10000);
  await page.goto(UI + '/');
  const errs = await page.locator('#errors li.error').allTextContents();
  const marked = await page.locator('svg.graph g.comp.has-errors').evaluateAll(
    (gs) => gs.map((g) => g.getAttribute('data-id')).join(','));
  check(errs.length >= 1 && errs[0].startsWith('otlphttp/down') && /dropped/.test(errs[0]) &&
    marked === 'otlphttp/down', `the last error is listed (${errs[0]}) and its component marked (${marked})`);
  const frames = page.locator('#flame-main g.f');
  const n = await frames.count();
  check(n > 10, `the flame graph is drawn (${n} frames)`);
  const selfs = await page.locator(`#flame-main g.f[data-n="${TOP}"] title`).allTextContents();
  const self = selfs.reduce((a, t) => a + parseFloat(/self ([0-9.]+)%/.exec(t)[1]), 0);
  // Each frame's share is printed rounded to 0.01 %: within half of that
  // per frame (and 0.02 for frames too narrow to draw).
  check(selfs.length > 0 && Math.abs(self - TOP_SHARE) <= 0.005 * selfs.length + 0.02,
    `the flame graph holds the top function ${TOP}: self ${self.toFixed(2)}% (google/pprof: ${TOP_SHARE}%)`);

  // Zoom: click the widest frame of the top function.
  const widest = await page.locator(`#flame-main g.f[data-n="${TOP}"]`).evaluateAll((gs) => {
    let best = 0;
    gs.forEach((g, i) => { if (+g.getAttribute('data-w') > +gs[best].getAttribute('data-w')) { best = i; } });
    return best;
  });
  const target = page.locator(`#flame-main g.f[data-n="${TOP}"]`).nth(widest);
  const wBefore = parseFloat(await target.locator('rect').getAttribute('width'));
  await target.locator('rect').click();
  const zoomed = await page.locator('#flame-main').getAttribute('data-zoomed');
  const wAfter = parseFloat(await target.locator('rect').getAttribute('width'));
  const hidden = await page.locator('#flame-main g.f.hidden').count();
  check(zoomed === 'true' && wAfter > 1000 && wAfter > wBefore && hidden > 0,
    `clicking zooms: ${TOP} ${wBefore.toFixed(1)}px -> ${wAfter.toFixed(1)}px, ${hidden} frames hidden`);
  await page.locator('#flame-main text.reset').click();
  check(await page.locator('#flame-main g.f.hidden').count() === 0, 'reset zoom shows every frame again');

  // Search: type the top function's name.
  await page.locator('input.flame-search').fill(escapeRe(TOP));
  const hl = await page.locator('#flame-main g.f.hl').evaluateAll(
    (gs) => gs.map((g) => g.getAttribute('data-n')));
  const info = await page.locator('#flame-main text.info').textContent();
  check(hl.length === selfs.length && hl.every((x) => x === TOP),
    `search highlights the ${hl.length} frames of ${TOP} and no other (${info})`);
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.locator('#flame-main').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'status-page.png'), fullPage: true });
  pass('screenshot ' + path.join(SHOTS, 'status-page.png'));
  const foreign = urls.filter((u) => !u.startsWith(UI));
  check(foreign.length === 0, `nothing loaded from elsewhere (${urls.length} requests, foreign: ${foreign.join(' ')})`);
  await page.close();
}

// The flame graph fills in without a reload: the script fetches it again.
async function liveFlameCheck(browser) {
  const page = await browser.newPage();
  await page.goto(UI + '/');
  const root = async () => parseInt(/\((\d+) /.exec(
    await page.locator('#flame-main g.f[data-d="0"] title').textContent())[1], 10);
  const before = await root();
  await ingest(env('BASE_PROF'));
  const grew = await until(async () => (await root()) === 2 * before, 25000);
  check(grew, `the flame graph fills in without a reload: root ${before} -> ${await root()}`);
  await page.close();
}

// A diff of two time ranges: the base profile in one slot, the regressed
// one in a later slot.
async function diffChecks(browser) {
  const slot = (await api('/api/store')).slot_ms;
  const base = (await api('/api/series')).series[0];
  // Start right after a slot boundary, so the base lands in one slot.
  await until(async () => Date.now() % slot < slot / 4, slot + 1000);
  const t0 = Math.floor(Date.now() / 1000) - 1;
  await ingest(env('BASE_PROF'));
  const mid = (Math.floor(Date.now() / slot) + 1) * slot;
  await until(async () => Date.now() > mid + 200, slot * 2 + 1000);
  await ingest(env('NEW_PROF'));
  await until(async () => (await api('/api/series')).series[0].profiles >= base.profiles + 2, 10000);
  const q = `pipeline=${encodeURIComponent(base.pipeline)}&service=${encodeURIComponent(base.service)}` +
    `&type=${encodeURIComponent(base.type)}&base_from=${t0}&base_to=${mid / 1000}&from=${mid / 1000}&to=now`;
  const page = await browser.newPage();
  await page.goto(UI + '/?' + q + '#flames');
  const cls = await page.locator('#flame-main').getAttribute('class');
  check(/diff/.test(cls), 'the page draws a diff of two time ranges');
  const reddest = await page.locator('#flame-main g.f').evaluateAll((gs) =>
    [...new Set(gs.filter((g) => g.querySelector('rect').getAttribute('fill') === 'rgb(255,55,55)')
      .map((g) => g.getAttribute('data-n')))]);
  check(reddest.length === 1 && reddest[0] === TOP, `the regressed function is the reddest: ${reddest}`);
  await page.screenshot({ path: path.join(SHOTS, 'status-page-diff.png'), fullPage: true });
  // The same two ranges for scripts: what `profcol diff --json` prints.
  const fns = await api('/api/diff?' + q + '&format=functions&threshold=5&top=3');
  const first = fns.functions[0];
  check(fns.regression === true && first.function === TOP && first.flat_change_pct > 5 &&
    fns.functions.length === 3,
    `/api/diff?format=functions: ${first.function} first, flat ${first.flat_change_pct} points, regression`);
  pass('screenshot ' + path.join(SHOTS, 'status-page-diff.png'));
  await page.close();
}

async function noScriptChecks() {
  const ctx = await launch({ javaScriptEnabled: false });
  const page = await ctx.newPage();
  await page.goto(UI + '/');
  const acc = await counter(page, 'receiver/pyroscope/accepted');
  const n = await page.locator('#flame-main g.f').count();
  check(acc >= 1 && n > 10, `with JavaScript off: accepted ${acc}, ${n} flame graph frames`);
  await close(ctx);
}

async function fileChecks(browser) {
  const page = await browser.newPage();
  const urls = recordRequests(page);
  await page.goto('file://' + env('CPU_SVG'));
  const n = await page.locator('g.f').count();
  check(n > 10, `profcol flamegraph's SVG opens in the browser (${n} frames)`);
  await page.locator(`g.f[data-n="${TOP}"] rect`).first().click();
  check(await page.locator('svg').first().getAttribute('data-zoomed') === 'true', 'the SVG zooms on a click by itself');
  await page.goto('file://' + env('DIFF_SVG'));
  const red = await page.locator('g.f').evaluateAll((gs) =>
    [...new Set(gs.filter((g) => g.querySelector('rect').getAttribute('fill') === 'rgb(255,55,55)')
      .map((g) => g.getAttribute('data-n')))]);
  check(red.length === 1 && red[0] === TOP, `profcol diff's SVG opens, ${TOP} fully red`);
  await page.locator('svg').first().screenshot({ path: path.join(SHOTS, 'diff-flamegraph.png') });
  pass('screenshot ' + path.join(SHOTS, 'diff-flamegraph.png'));
  check(urls.every((u) => u.startsWith('file://')), 'the SVG files load nothing else');
  await page.close();
}

(async () => {
  let browser = null;
  try {
    browser = await launch();
    await pageChecks(browser);
    await noScriptChecks();
    await liveFlameCheck(browser);
    await diffChecks(browser);
    await fileChecks(browser);
  } catch (e) {
    fail('exception: ' + (e && e.stack ? e.stack : e));
  } finally {
    if (browser) { await close(browser); }
  }
  process.exit(failed ? 1 : 0);
})();
