// pyroscope_sdk_app.js: a small Node program profiled by the real
// @pyroscope/nodejs SDK (installed in SDK_DIR) that pushes its wall/CPU and
// heap profiles to SERVER as APP_NAME, then stops (which flushes).
'use strict';
const path = require('path');
const mod = require(path.join(process.env.SDK_DIR, 'node_modules', '@pyroscope', 'nodejs'));
const Pyroscope = mod.default || mod;

// The same SDK race can surface from one of the SDK's own timers once stop()
// has begun; only that exact error, and only while stopping, is tolerated.
let stopping = false;
function sdkStopRace(e) {
  return stopping && String(e && e.message).includes('Wall profiler is not started');
}
process.on('uncaughtException', (e) => {
  if (sdkStopRace(e)) { console.log('note: SDK stop raced its wall profiler'); return; }
  console.error(e);
  process.exit(1);
});
process.on('unhandledRejection', (e) => {
  if (sdkStopRace(e)) { console.log('note: SDK stop raced its wall profiler'); return; }
  console.error(e);
  process.exit(1);
});

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
  stopping = true;
  try {
    await Pyroscope.stop();
  } catch (e) {
    // SDK 0.6.x can throw this when stop() meets its wall profiler between
    // two sampling windows. Everything sampled so far was already flushed
    // by the periodic uploads, which the tests check on the profcol side.
    if (!sdkStopRace(e)) {
      throw e;
    }
    console.log('note: SDK stop raced its wall profiler:', e.message);
  }
  console.log('done', keep.length > 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
