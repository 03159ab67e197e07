'use strict';
// ACL scenarios for ali-ons@3.12.0, which signs every request when given `accessKeyId` /
// `accessKeySecret` (lib/channel.js: HMAC-SHA1 over the sorted header values + body, plus
// `AccessKey` and `OnsChannel`):
//
//     node acl.js <scenario> <namesrv addr> <broker addr>
//
// The addresses given are ignored: each scenario starts its own standalone `apogee` with
// `aclEnable=true` and the plain_acl.yml below (binary from $APOGEE_BIN_DIR, default
// ../../target/debug). Topics are created with raw UPDATE_AND_CREATE_TOPIC frames signed here
// by an admin account. Prints `RESULT ok` or `RESULT fail <why>` last and exits by itself.

const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const admin = require('./admin');

const SCENARIO_TIMEOUT_MS = Number(process.env.SCENARIO_TIMEOUT_MS || 150000);
const USER = { accessKeyId: 'onsUser01', accessKeySecret: 'ons-secret-01' };
const ADMIN = [ 'onsAdmin01', 'admin-secret-01' ];
const PLAIN_ACL = `
globalWhiteRemoteAddresses:
accounts:
  - accessKey: onsUser01
    secretKey: ons-secret-01
    admin: false
    defaultTopicPerm: PUB|SUB
    defaultGroupPerm: SUB
    topicPerms:
      - OnsDenied=DENY
  - accessKey: onsAdmin01
    secretKey: admin-secret-01
    admin: true
`;

const quietLogger = {
  info() {}, debug() {}, warn() {},
  error(...args) { if (process.env.NODE_COMPAT_VERBOSE) console.error('[error]', ...args); },
};
const httpclient = { async request(url) { throw new Error(`httpclient stub: ${url}`); } };
const sleep = ms => new Promise(r => setTimeout(r, ms));
const uid = () => Math.random().toString(16).slice(2, 10);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitPort(port, proc) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`apogee exited with ${proc.exitCode}`);
    const ok = await new Promise(resolve => {
      const s = net.createConnection({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`port ${port} not listening`);
}

/** A standalone apogee with ACL on, in a temporary directory. */
async function startNode() {
  const binDir = process.env.APOGEE_BIN_DIR || path.join(__dirname, '..', '..', 'target', 'debug');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'apogee-acl-js-'));
  fs.mkdirSync(path.join(tmp, 'conf'));
  fs.writeFileSync(path.join(tmp, 'conf', 'plain_acl.yml'), PLAIN_ACL);
  fs.writeFileSync(path.join(tmp, 'broker.conf'), `aclEnable=true\nrocketmqHome=${tmp}\n`);
  // The fast port (broker port - 2) must be free too: take ports until both are.
  let nsPort, brokerPort;
  for (;;) {
    nsPort = await freePort();
    brokerPort = await freePort();
    if (brokerPort > 1100 && brokerPort - 2 !== nsPort) break;
  }
  const log = fs.openSync(path.join(tmp, 'apogee.log'), 'w');
  const proc = childProcess.spawn(path.join(binDir, 'apogee'), [
    '-c', path.join(tmp, 'broker.conf'), '--store', path.join(tmp, 'store'),
    '--namesrv-port', String(nsPort), '--broker-port', String(brokerPort), '--broker-ip', '127.0.0.1',
  ], { stdio: [ 'ignore', log, log ] });
  await waitPort(nsPort, proc);
  await waitPort(brokerPort, proc);
  return {
    namesrv: `127.0.0.1:${nsPort}`,
    broker: `127.0.0.1:${brokerPort}`,
    async stop() {
      proc.kill('SIGTERM');
      await Promise.race([ new Promise(r => proc.on('exit', r)), sleep(15000) ]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      if (!process.env.APOGEE_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** `ext` plus AccessKey and Signature, as AclClientRPCHook signs. */
function sign(ext, accessKey, secretKey) {
  const all = Object.assign({}, ext, { AccessKey: accessKey });
  const content = Object.keys(all).sort().map(k => all[k]).join('');
  all.Signature = crypto.createHmac('sha1', secretKey).update(Buffer.from(content, 'utf8')).digest('base64');
  return all;
}

async function createTopic(node, topic, credentials) {
  const ext = {
    topic, defaultTopic: 'TBW102', readQueueNums: '4', writeQueueNums: '4', perm: '6',
    topicFilterType: 'SINGLE_TAG', topicSysFlag: '0', order: 'false',
  };
  const { header } = await admin.call(node.broker, 17, sign(ext, ...(credentials || ADMIN)));
  return header;
}

async function newTopic(node, prefix) {
  const topic = `${prefix}_${uid()}`;
  const h = await createTopic(node, topic);
  if (h.code !== 0) throw new Error(`signed topic creation refused: ${JSON.stringify(h)}`);
  await admin.waitRoute(node.namesrv, topic);
  return topic;
}

function ons() {
  return require('ali-ons');
}

async function producer(node, credentials, instanceName) {
  const p = new (ons().Producer)(Object.assign({
    nameSrv: node.namesrv, producerGroup: `PG_${uid()}`, httpclient, logger: quietLogger,
    instanceName, sendMsgTimeout: 3000, retryTimesWhenSendFailed: 0,
  }, credentials || {}));
  p.on('error', () => {});
  await p.ready();
  return p;
}

/** Send once; null when it went through, else why (the broker's remark when there was one:
 * the producer retries SYSTEM_ERROR answers and then throws a generic error, so the answer of
 * each attempt is caught on the way). */
async function refusedSend(p, topic) {
  let brokerSaid = null;
  const kernel = p.sendKernelImpl;
  p.sendKernelImpl = async function(...args) {
    try {
      return await kernel.apply(this, args);
    } catch (err) {
      brokerSaid = err.message;
      throw err;
    }
  };
  try {
    const r = await p.send(new (ons().Message)(topic, 'TagA', 'refused?'));
    return r && r.sendStatus === 'SEND_OK' ? null : `status ${r && r.sendStatus}`;
  } catch (err) {
    return brokerSaid || err.message || String(err);
  } finally {
    p.sendKernelImpl = kernel;
  }
}

/** A producer with `credentials` cannot start (its heartbeat is refused) or cannot send. */
async function refusedStartOrSend(node, credentials, instanceName, topic) {
  let p;
  try {
    p = await producer(node, credentials, instanceName);
  } catch (err) {
    return err.message || String(err);
  }
  try {
    return await refusedSend(p, topic);
  } finally {
    await p.close().catch(() => {});
  }
}

const SCENARIOS = {
  // 50 signed sends are stored; a consumer signing with the same account receives them all.
  async 'acl-signed-send+consume'(node) {
    const topic = await newTopic(node, 'OnsAcl');
    const p = await producer(node, USER);
    const N = 50;
    for (let i = 0; i < N; i++) {
      const r = await p.send(new (ons().Message)(topic, 'TagA', `body-${i}`));
      if (!r || r.sendStatus !== 'SEND_OK') return `send ${i}: ${r && r.sendStatus}`;
    }
    await p.close();
    const got = new Set();
    const c = new (ons().Consumer)(Object.assign({
      nameSrv: node.namesrv, consumerGroup: `CG_${uid()}`, httpclient, logger: quietLogger,
    }, USER));
    c.on('error', () => {});
    c.subscribe(topic, '*', async msg => { got.add(msg.body.toString()); });
    await c.ready();
    const deadline = Date.now() + 60000;
    while (got.size < N && Date.now() < deadline) await sleep(100);
    await c.close();
    const MQProducer = require('ali-ons/lib/producer/mq_producer');
    if (MQProducer.defaultProducer) await MQProducer.defaultProducer.close();
    if (process.env.NODE_COMPAT_VERBOSE) console.error(`received ${got.size}`);
    return got.size >= N ? null : `received ${got.size} of ${N}`;
  },

  // A wrong secret, no credentials, and a DENY topic are refused; the same account may still
  // publish elsewhere; topic creation needs a valid admin signature.
  async 'acl-refused'(node) {
    const topic = await newTopic(node, 'OnsRefuse');
    let h = await createTopic(node, `NotAdmin_${uid()}`, [ USER.accessKeyId, USER.accessKeySecret ]);
    if (h.code === 0 || !String(h.remark).includes('Need admin permission')) {
      return `topic creation by a non-admin: ${JSON.stringify(h)}`;
    }
    // Each producer in its own client instance (ali-ons shares one client, and one set of
    // credentials, per instance name).
    const wrong = { accessKeyId: USER.accessKeyId, accessKeySecret: 'wrong-secret-9' };
    let why = await refusedStartOrSend(node, wrong, 'bad', topic);
    if (!why || !why.includes('Check signature failed')) {
      return `a send signed with a wrong secret: ${why || 'accepted'}`;
    }
    why = await refusedStartOrSend(node, null, 'anon', topic);
    if (!why || !why.includes('No accessKey is configured')) return `an unsigned send: ${why || 'accepted'}`;
    // The DENY entry names the exact topic `OnsDenied`.
    h = await createTopic(node, 'OnsDenied');
    if (h.code !== 0) return `create OnsDenied: ${JSON.stringify(h)}`;
    await admin.waitRoute(node.namesrv, 'OnsDenied');
    const good = await producer(node, USER, 'good');
    why = await refusedSend(good, 'OnsDenied');
    if (!why || !why.includes('No default permission for topic:OnsDenied')) {
      return `a send to a DENY topic: ${why || 'accepted'}`;
    }
    why = await refusedSend(good, topic);
    if (why) return `a permitted send was refused: ${why}`;
    await good.close();
    return null;
  },
};

async function main() {
  const [ scenario ] = process.argv.slice(2);
  let why;
  let node;
  const timer = setTimeout(() => {
    process.stdout.write(`RESULT fail scenario timed out after ${SCENARIO_TIMEOUT_MS / 1000}s\n`);
    process.exit(1);
  }, SCENARIO_TIMEOUT_MS);
  try {
    if (!SCENARIOS[scenario]) throw new Error(`unknown scenario ${scenario}`);
    node = await startNode();
    why = await SCENARIOS[scenario](node);
  } catch (err) {
    why = `${err.name}: ${err.message}`;
  }
  if (node) await node.stop();
  clearTimeout(timer);
  process.stdout.write(why ? `RESULT fail ${why}\n` : 'RESULT ok\n');
  process.exit(why ? 1 : 0);
}

process.on('unhandledRejection', err => console.error('[unhandledRejection]', err && err.message));
main();
