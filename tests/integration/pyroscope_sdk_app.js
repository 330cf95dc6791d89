// pyroscope_sdk_app.js: a small Node program profiled by the real
// @pyroscope/nodejs SDK (installed in SDK_DIR) that pushes its wall/CPU and
// heap profiles to SERVER as APP_NAME, then stops (which flushes).
'use strict';
const path = require('path');
const mod = require(path.join(process.env.SDK_DIR, 'node_modules', '@pyroscope', 'nodejs'));
const Pyroscope = mod.default || mod;

function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

async function main() {
  Pyroscope.init({
    serverAddress: process.env.SERVER,
    appName: process.env.APP_NAME,
    tenantID: process.env.TENANT,
    flushIntervalMs: 1000,
    tags: { sdk_version: process.env.SDK_VERSION },
    wall: { samplingDurationMs: 1000 },
  });
  Pyroscope.start();
  const keep = [];
  const until = Date.now() + Number(process.env.RUN_MS || 3500);
  while (Date.now() < until) {
    fib(22);
    keep.push(new Array(1000).fill(Math.random()));
    if (keep.length > 2000) keep.splice(0, 1000);
    await new Promise((r) => setImmediate(r));
  }
  await Pyroscope.stop();
  console.log('done', keep.length > 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
