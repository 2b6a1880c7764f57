// A GoT backend for the backends-over-TLS tests: npm goth (the reference GoT server)
// with a certificate made by the test. Prints `PORT n` once listening, then per
// connection `ACCEPT type`, `REQUEST selector`, `TLS servername alpn reused`, and answers
// a Gopher info line naming what it saw, so a test can tell goth answered and how.
//
//   node goth_backend.js GOTH_DIR CERT KEY NAME [CLIENT_CA]
//
// With CLIENT_CA the TLS side asks for a client certificate and refuses clients without
// one of that CA (mTLS to backends).
'use strict'
const crypto = require('crypto')
const fs = require('fs')
const path = require('path')

const [gothDir, certFile, keyFile, name, clientCa] = process.argv.slice(2)
const { GopherServer } = require(path.join(gothDir, 'index.js'))

const options = {
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  // One ticket key for the whole server: goth makes a TLS context per connection, so
  // without shared keys no ticket would ever resume.
  ticketKeys: crypto.randomBytes(48)
}
if (clientCa) {
  options.ca = fs.readFileSync(clientCa)
  options.requestCert = true
  options.rejectUnauthorized = true
}

const server = new GopherServer(options, (socket, type) => {
  console.log(`ACCEPT ${type}`)
  if (type === 'tls') {
    console.log(`TLS ${socket.servername || '-'} ${socket.alpnProtocol || '-'} ` +
                `${socket.isSessionReused() ? 'reused' : 'full'}`)
  }
  socket.on('error', (err) => console.log(`ERROR ${err.code || err.message}`))
  let request = ''
  const answer = () => {
    const selector = request.split('\r\n')[0]
    console.log(`REQUEST ${selector}`)
    if (socket.destroyed || !socket.writable) return
    socket.end(`i${name} selector=${selector} type=${type}` +
               ` alpn=${socket.alpnProtocol || '-'}\tfake\terror.host\t1\r\n.\r\n`)
  }
  socket.on('data', (chunk) => {
    request += chunk.toString('latin1')
    if (request.includes('\r\n')) {
      socket.removeAllListeners('data')
      answer()
    }
  })
})
server.on('tlsClientError', (err) => console.log(`TLSERROR ${err.code || err.message}`))
server.on('connection', (s) => s.on('error', (err) => console.log(`ERROR ${err.code || err.message}`)))
process.on('uncaughtException', (err) => console.log(`UNCAUGHT ${err.code || err.message}`))
server.listen(0, '127.0.0.1', () => {
  console.log(`PORT ${server.address().port}`)
})
