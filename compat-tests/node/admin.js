'use strict';
// A tiny raw remoting client (JSON header) for test set-up, the JavaScript twin of
// ../python/rmq_admin.py: create a topic on the broker (UPDATE_AND_CREATE_TOPIC, 17) and wait
// until the name server has a route for it (GET_ROUTEINFO_BY_TOPIC, 105).

const net = require('net');

let opaque = 1000;

function frame(code, ext, body) {
  body = body || Buffer.alloc(0);
  opaque += 1;
  const header = Buffer.from(JSON.stringify({
    code, extFields: ext, flag: 0, language: 'PYTHON', opaque,
    serializeTypeCurrentRPC: 'JSON', version: 409,
  }));
  const head = Buffer.alloc(8);
  head.writeUInt32BE(4 + header.length + body.length, 0);
  head.writeUInt32BE(header.length, 4); // high byte 0 = JSON
  return Buffer.concat([ head, header, body ]);
}

/** One request on a fresh connection; resolves to { header, body }. */
function call(addr, code, ext, timeoutMs) {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i);
  const port = Number(addr.slice(i + 1));
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${addr} to code ${code}`));
    }, timeoutMs || 10000);
    const done = (err, val) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err); else resolve(val);
    };
    sock.on('connect', () => sock.write(frame(code, ext)));
    sock.on('error', err => done(err));
    sock.on('data', chunk => {
      buf = Buffer.concat([ buf, chunk ]);
      if (buf.length < 4) return;
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) return;
      const hlen = buf.readUInt32BE(4) & 0xffffff;
      try {
        const header = JSON.parse(buf.slice(8, 8 + hlen).toString());
        done(null, { header, body: buf.slice(8 + hlen, 4 + len) });
      } catch (err) {
        done(err);
      }
    });
  });
}

async function createTopic(broker, topic, queues) {
  queues = queues || 4;
  const { header } = await call(broker, 17, {
    topic, defaultTopic: 'TBW102', readQueueNums: String(queues),
    writeQueueNums: String(queues), perm: '6', topicFilterType: 'SINGLE_TAG',
    topicSysFlag: '0', order: 'false',
  });
  if (header.code !== 0) {
    throw new Error(`create topic ${topic} failed: ${JSON.stringify(header)}`);
  }
}

async function routeExists(namesrv, topic) {
  const { header, body } = await call(namesrv, 105, { topic });
  return header.code === 0 && body.length > 0;
}

async function waitRoute(namesrv, topic, timeoutMs) {
  const deadline = Date.now() + (timeoutMs || 30000);
  while (Date.now() < deadline) {
    if (await routeExists(namesrv, topic)) return;
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error(`no route for ${topic}`);
}

module.exports = { call, createTopic, routeExists, waitRoute };
