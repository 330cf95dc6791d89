// A traced HTTP app for profcol's peer test: dd-trace (Node) with its
// profiler on, uploading to the Datadog Agent address in DD_TRACE_AGENT_URL
// (profcol's datadog receiver). It serves GET /work (CPU work inside the
// web span, so wall samples carry span ids), calls itself for SECONDS, and
// exits; dd-trace uploads a last profile on exit.
//
//   node -r dd-trace/init app.js SECONDS
'use strict'
const http = require('http')
const crypto = require('crypto')

const seconds = Number(process.argv[2] || 10)

function burn (ms) {
  const end = Date.now() + ms
  let h = ''
  while (Date.now() < end) {
    h = crypto.createHash('sha256').update(h + 'x').digest('hex')
  }
  return h
}

const server = http.createServer((req, res) => {
  const h = burn(30)
  res.end(h)
})

server.listen(0, '127.0.0.1', () => {
  const port = server.address().port
  const end = Date.now() + seconds * 1000
  console.log(`dd-trace ${require('dd-trace/package.json').version} app on ${port} for ${seconds} s`)
  const tick = () => {
    if (Date.now() > end) {
      server.close()
      return
    }
    http.get({ host: '127.0.0.1', port, path: '/work' }, (res) => {
      res.resume()
      res.on('end', () => setTimeout(tick, 5))
    }).on('error', (err) => {
      console.error(err)
      process.exitCode = 1
    })
  }
  tick()
})
