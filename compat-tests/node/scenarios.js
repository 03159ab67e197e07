'use strict';
// Scenarios for the Node.js clients, one per process invocation:
//
//     node scenarios.js <client> <scenario> <namesrv addr> <broker addr>
//
// <client> is `ali-ons` (npm ali-ons@3.12.0) or `rocketmq` (npm rocketmq@2.0.1, an older
// ali-ons fork with generator-based APIs). Prints `RESULT ok` or `RESULT fail <why>` as its
// last line and exits by itself, bounded by SCENARIO_TIMEOUT_MS.
//
// Client facts that shape these scenarios (read from their sources in node_modules):
// - Both insist on an `httpclient` option but only use it to fetch name-server addresses from
//   `onsAddr`; with a name server given (ali-ons `nameSrv`, rocketmq `namesrvAddr`) it is never
//   called, so a stub object with a `request` function is passed (no urllib needed).
// - Neither creates topics, so each scenario creates its topic first through admin.js.
// - Neither has a oneway or callback-async send: `send` is the only one (a promise in ali-ons,
//   a generator in rocketmq). `concurrent-send` keeps many sends in flight at once instead.
// - Both filter tags on the client side too, so `tag-filter` watches the raw pull results to
//   tell whether the broker filtered.
// - ali-ons compresses bodies of 4 KiB or more (zlib, sysFlag bit 0); `compressed-body` covers it.

const path = require('path');
const admin = require('./admin');

const N = 1000;
const SCENARIO_TIMEOUT_MS = Number(process.env.SCENARIO_TIMEOUT_MS || 150000);

const quietLogger = {
  info() {},
  debug() {},
  warn(...args) { if (process.env.NODE_COMPAT_VERBOSE) console.error('[warn]', ...args); },
  error(...args) { console.error('[error]', ...args); },
};

const httpclient = {
  async request(url) {
    throw new Error(`httpclient stub: unexpected request to ${url}`);
  },
};

function sleep(ms) {
  return new Promise(r => setTimeout(r, ms));
}

function uid() {
  return Math.random().toString(16).slice(2, 10);
}

/** A uniform face over the two clients. */
function clientApi(name, namesrv) {
  if (name === 'ali-ons') {
    const ons = require('ali-ons');
    const MQProducer = require('ali-ons/lib/producer/mq_producer');
    return {
      Message: ons.Message,
      async producer(group) {
        const p = new ons.Producer({ nameSrv: namesrv, producerGroup: group, httpclient, logger: quietLogger });
        p.on('error', err => console.error('[producer error]', err.message));
        await p.ready();
        return { send: msg => p.send(msg), close: () => p.close() };
      },
      async consumer(group, topic, expr, onMsg, extra, hook) {
        const c = new ons.Consumer(Object.assign({
          nameSrv: namesrv, consumerGroup: group, httpclient, logger: quietLogger,
        }, extra || {}));
        c.on('error', err => console.error('[consumer error]', err.message));
        if (hook) hook(c);
        c.subscribe(topic, expr, async msg => onMsg(msg));
        await c.ready();
        return { raw: c, close: () => c.close() };
      },
      async shutdown() {
        // The consumer starts a process-wide inner producer (CLIENT_INNER_PRODUCER_GROUP).
        if (MQProducer.defaultProducer) await MQProducer.defaultProducer.close();
      },
      ACTION_RETRY: ons.Consumer.ACTION_RETRY,
    };
  }
  if (name === 'rocketmq') {
    const rmq = require('rocketmq');
    // rocketmq@2.0.1 is generator based; drive generators with its own `co`.
    const co = require(require.resolve('co', { paths: [ path.dirname(require.resolve('rocketmq')) ] }));
    return {
      Message: rmq.Message,
      async producer(group) {
        const p = new rmq.Producer({ namesrvAddr: namesrv, producerGroup: group, httpclient, logger: quietLogger });
        p.on('error', err => console.error('[producer error]', err.message));
        await p.ready();
        return { send: msg => co(p.send(msg)), close: () => p.close() };
      },
      async consumer(group, topic, expr, onMsg, extra, hook) {
        const c = new rmq.Consumer(Object.assign({
          namesrvAddr: namesrv, consumerGroup: group, httpclient, logger: quietLogger,
        }, extra || {}));
        c.on('error', err => console.error('[consumer error]', err.message));
        if (hook) hook(c);
        c.subscribe(topic, expr, function* (msg) { return onMsg(msg); });
        await c.ready();
        return { raw: c, close: () => c.close() };
      },
      async shutdown() {},
      ACTION_RETRY: undefined,
    };
  }
  throw new Error(`unknown client ${name}`);
}

async function newTopic(prefix, namesrv, broker) {
  const topic = `${prefix}_${uid()}`;
  // `broker` lists every broker of the deployment, comma separated.
  for (const b of broker.split(',')) await admin.createTopic(b, topic, 4);
  await admin.waitRoute(namesrv, topic);
  return topic;
}

function makeMessage(api, topic, i, opts) {
  opts = opts || {};
  const tag = opts.tag || (i % 2 === 0 ? 'TagA' : 'TagB');
  const body = opts.body || (`body-${i}-` + 'x'.repeat(i % 200));
  const msg = new api.Message(topic, tag, body);
  msg.keys = [ `key-${i}` ];
  msg.properties.seq = String(i);
  return { msg, tag, body };
}

/**
 * Consume from `topic` with `expr` until `expected` (a Map seq -> {body, tag, msgId}) has all
 * arrived or `waitMs` passes; checks body, keys, tags, the user property and the msgId.
 */
async function consumeAndCheck(api, topic, expr, expected, waitMs, opts) {
  opts = opts || {};
  const received = new Map();
  const problems = [];
  let resolveDone;
  const done = new Promise(r => { resolveDone = r; });
  const onMsg = async msg => {
    const seq = msg.properties && msg.properties.seq;
    const want = expected.get(seq);
    const body = msg.body ? msg.body.toString() : '';
    if (!want) {
      if (opts.onUnexpected) opts.onUnexpected(seq);
      else problems.push(`unexpected message seq=${seq} tags=${msg.tags}`);
      return;
    }
    if (body !== want.body) problems.push(`body of ${seq} differs (${body.length} vs ${want.body.length} bytes)`);
    else if (msg.keys !== `key-${seq}`) problems.push(`keys of ${seq}: ${JSON.stringify(msg.keys)}`);
    else if (msg.tags !== want.tag) problems.push(`tags of ${seq}: ${JSON.stringify(msg.tags)}`);
    else if (msg.topic !== topic) problems.push(`topic of ${seq}: ${JSON.stringify(msg.topic)}`);
    else if (want.msgId && msg.msgId !== want.msgId) problems.push(`msgId of ${seq}: sent ${want.msgId}, received ${msg.msgId}`);
    received.set(seq, (received.get(seq) || 0) + 1);
    if (received.size >= expected.size) resolveDone();
  };
  const consumer = await api.consumer(`CG_${topic}`, topic, expr, onMsg, opts.consumerOptions, opts.onConsumer);
  await Promise.race([ done, sleep(waitMs) ]);
  if (opts.settleMs) await sleep(opts.settleMs);
  try {
    await consumer.close();
  } catch (err) {
    problems.push(`consumer close: ${err.message}`);
  }
  if (problems.length) return problems.slice(0, 5).join('; ');
  if (received.size < expected.size) return `received ${received.size} of ${expected.size}`;
  return null;
}

async function sendAll(api, topic, count, make, concurrency, opts) {
  opts = opts || {};
  const producer = await api.producer(`PG_${topic}`);
  const expected = new Map();
  try {
    const sendOne = async i => {
      const { msg, tag, body } = make(i);
      const res = await producer.send(msg);
      if (opts.mustCompress && !(Buffer.isBuffer(msg.body) && msg.body.length < body.length)) {
        throw new Error(`send ${i}: the client did not compress a ${body.length}-byte body`);
      }
      if (!res || res.sendStatus !== 'SEND_OK') {
        throw new Error(`send ${i}: status ${res && res.sendStatus}`);
      }
      if (!res.msgId) throw new Error(`send ${i}: no msgId in result ${JSON.stringify(res)}`);
      expected.set(msg.properties.seq, { body, tag, msgId: res.msgId });
    };
    if (!concurrency || concurrency <= 1) {
      for (let i = 0; i < count; i++) await sendOne(i);
    } else {
      let next = 0;
      const worker = async () => {
        while (next < count) await sendOne(next++);
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    }
  } finally {
    await producer.close();
  }
  return expected;
}

const SCENARIOS = {
  // Half the messages are sent and being consumed when the runner restarts the broker
  // (SIGTERM, same store and ports); the other half is sent after it came back. Every message
  // must arrive (duplicates are allowed and counted) and the client must still be running.
  async 'restart-mid-consume'(api, namesrv, broker) {
    const topic = await newTopic('NodeRestart', namesrv, broker);
    const n = 400;
    const half = n / 2;
    const producer = await api.producer(`PG_${topic}`);
    const sendRetrying = async i => {
      const deadline = Date.now() + 30000;
      let why;
      for (;;) {
        try {
          const { msg } = makeMessage(api, topic, i);
          const res = await producer.send(msg);
          if (res && res.sendStatus === 'SEND_OK') return;
          why = `status ${res && res.sendStatus}`;
        } catch (err) {
          why = err.message;
        }
        if (Date.now() > deadline) throw new Error(`send ${i} kept failing across the restart: ${why}`);
        await sleep(500);
      }
    };
    for (let i = 0; i < half; i++) await sendRetrying(i);
    const received = new Map();
    const problems = [];
    let deliveries = 0;
    const consumer = await api.consumer(`CG_${topic}`, topic, '*', async msg => {
      const seq = msg.properties && msg.properties.seq;
      const body = msg.body ? msg.body.toString() : '';
      if (body !== `body-${seq}-` + 'x'.repeat(Number(seq) % 200)) problems.push(`body of ${seq} differs`);
      received.set(seq, true);
      deliveries++;
    });
    const waitCount = async (k, ms) => {
      const deadline = Date.now() + ms;
      while (received.size < k && Date.now() < deadline) await sleep(100);
    };
    await waitCount(half / 2, 60000);
    if (received.size < half / 2) return `before the restart: received ${received.size} of ${half}`;
    await askRunner('restart-broker');
    for (let i = half; i < n; i++) await sendRetrying(i);
    await waitCount(n, 120000);
    try {
      await consumer.close();
      await producer.close();
    } catch (err) {
      problems.push(`close after the restart: ${err.message}`);
    }
    if (problems.length) return problems.slice(0, 5).join('; ');
    if (received.size < n) return `lost across the restart: ${n - received.size} of ${n}; ${deliveries - received.size} duplicates`;
    console.error(`restart-mid-consume: ${deliveries - received.size} duplicates`);
    return null;
  },

  // Send 1000 messages one at a time (keys, tags, a user property), then a new consumer group
  // subscribed to '*' with the client's default CONSUME_FROM_LAST_OFFSET receives all of them.
  async 'sync-send+push-consume'(api, namesrv, broker) {
    const topic = await newTopic('NodeSync', namesrv, broker);
    const expected = await sendAll(api, topic, N, i => makeMessage(api, topic, i));
    return consumeAndCheck(api, topic, '*', expected, 90000);
  },

  // Half TagA, half TagB; a consumer subscribed to 'TagA' gets exactly the TagA ones, and the
  // broker itself must not hand TagB messages out (the client would hide that by filtering).
  async 'tag-filter'(api, namesrv, broker) {
    const topic = await newTopic('NodeTag', namesrv, broker);
    const all = await sendAll(api, topic, 200, i => makeMessage(api, topic, i));
    const expected = new Map([ ...all ].filter(([ , v ]) => v.tag === 'TagA'));
    const leaked = [];
    let pulledTagA = 0;
    const why = await consumeAndCheck(api, topic, 'TagA', expected, 60000, {
      settleMs: 2000,
      onConsumer(raw) {
        const orig = raw.pullKernelImpl;
        raw.pullKernelImpl = function(...args) {
          const ret = orig.apply(this, args);
          const check = result => {
            for (const m of (result && result.msgFoundList) || []) {
              if (m.topic !== topic) continue;
              if (m.tags === 'TagA') pulledTagA++; else leaked.push(m.tags);
            }
            return result;
          };
          return ret && typeof ret.then === 'function' ? ret.then(check) : wrapGen(ret, check);
        };
      },
    });
    if (why) return why;
    if (pulledTagA < expected.size) return `saw only ${pulledTagA} TagA messages in pull results (hook broken?)`;
    if (leaked.length) return `broker delivered ${leaked.length} messages with tags other than TagA (e.g. ${leaked[0]}) to a TagA subscription`;
    return null;
  },

  // ali-ons only (its subscribe takes { expressionType, subString }): a SQL92 property filter
  // over TAGS and a numeric user property; the broker (enablePropertyFilter=true) must hand out
  // exactly the matching messages.
  async 'sql92-filter'(api, namesrv, broker) {
    const topic = await newTopic('NodeSql', namesrv, broker);
    const tags = [ 'TagA', 'TagB', 'TagC' ];
    const all = await sendAll(api, topic, 300, i => makeMessage(api, topic, i, { tag: tags[i % 3] }));
    const selected = seq => Number(seq) >= 50 && Number(seq) <= 249 && Number(seq) % 3 !== 2;
    const expected = new Map([ ...all ].filter(([ seq ]) => selected(seq)));
    const extra = [];
    const why = await consumeAndCheck(api, topic, {
      expressionType: 'SQL92',
      subString: "(TAGS = 'TagA' OR TAGS = 'TagB') AND seq BETWEEN 50 AND 249",
    }, expected, 60000, { settleMs: 2000, onUnexpected: seq => extra.push(seq) });
    if (why) return why;
    if (extra.length) return `${extra.length} messages outside the filter delivered (e.g. seq ${extra[0]})`;
    return null;
  },

  // 300 sends with 32 in flight at once over the client's single connection.
  async 'concurrent-send'(api, namesrv, broker) {
    const topic = await newTopic('NodeConc', namesrv, broker);
    const expected = await sendAll(api, topic, 300, i => makeMessage(api, topic, i), 32);
    return consumeAndCheck(api, topic, '*', expected, 60000);
  },

  // Bodies of 4-40 KiB: ali-ons zlib-compresses them and sets sysFlag bit 0; the broker must
  // keep the flag so the consumer inflates them again.
  async 'compressed-body'(api, namesrv, broker) {
    const topic = await newTopic('NodeZip', namesrv, broker);
    const expected = await sendAll(api, topic, 40, i => makeMessage(api, topic, i, {
      body: `big-${i}-` + 'abcdefghij'.repeat(410 + i * 100),
    }), 1, { mustCompress: true });
    return consumeAndCheck(api, topic, '*', expected, 60000);
  },

  // A group consumes 100 messages and closes (which commits its offsets); 50 more are sent; a
  // new consumer of the same group must get exactly those 50 (QUERY/UPDATE_CONSUMER_OFFSET).
  async 'offset-resume'(api, namesrv, broker) {
    const topic = await newTopic('NodeResume', namesrv, broker);
    const first = await sendAll(api, topic, 100, i => makeMessage(api, topic, i));
    let why = await consumeAndCheck(api, topic, '*', first, 60000, { settleMs: 1000 });
    if (why) return `first consumer: ${why}`;
    const second = await sendAll(api, topic, 50, i => makeMessage(api, topic, 100 + i));
    const stale = [];
    why = await consumeAndCheck(api, topic, '*', second, 60000, {
      settleMs: 2000,
      onUnexpected: seq => stale.push(seq),
    });
    if (why) return `second consumer: ${why}`;
    if (stale.length) return `second consumer got ${stale.length} already consumed messages again (e.g. seq ${stale[0]})`;
    return null;
  },

  // ali-ons only: the handler asks for a retry on the first delivery of each message; the
  // client sends it back (CONSUMER_SEND_MSG_BACK, delayLevel 0) and it must come again through
  // %RETRY%<group> (after the broker's retry delay, 10 s for the first retry).
  async 'consume-retry'(api, namesrv, broker) {
    if (!api.ACTION_RETRY) return 'client has no retry action';
    const topic = await newTopic('NodeRetry', namesrv, broker);
    const expected = await sendAll(api, topic, 5, i => makeMessage(api, topic, i));
    const seen = new Map();
    const redelivered = new Set();
    const problems = [];
    let resolveDone;
    const done = new Promise(r => { resolveDone = r; });
    const consumer = await api.consumer(`CG_${topic}`, topic, '*', async msg => {
      const seq = msg.properties.seq;
      const want = expected.get(seq);
      if (!want) {
        problems.push(`unexpected message seq=${seq}`);
        return;
      }
      const n = (seen.get(seq) || 0) + 1;
      seen.set(seq, n);
      if (n === 1) return api.ACTION_RETRY;
      if (msg.body.toString() !== want.body) problems.push(`retried body of ${seq} differs`);
      else if (msg.keys !== `key-${seq}`) problems.push(`retried keys of ${seq}: ${JSON.stringify(msg.keys)}`);
      else if (msg.tags !== want.tag) problems.push(`retried tags of ${seq}: ${JSON.stringify(msg.tags)}`);
      else if (msg.topic !== topic) problems.push(`retried topic of ${seq}: ${JSON.stringify(msg.topic)}`);
      redelivered.add(seq);
      if (redelivered.size >= expected.size) resolveDone();
    });
    await Promise.race([ done, sleep(60000) ]);
    await consumer.close();
    if (problems.length) return problems.slice(0, 5).join('; ');
    if (redelivered.size < expected.size) {
      return `redelivered ${redelivered.size} of ${expected.size} (first deliveries: ${seen.size})`;
    }
    return null;
  },
};

/** Asks the runner to act on the deployment (e.g. `restart-broker`); resolves when done. */
function askRunner(what, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`runner did not ${what}`)), timeoutMs || 120000);
    let buf = '';
    const onData = chunk => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      process.stdin.removeListener('data', onData);
      process.stdin.pause();
      const line = buf.slice(0, nl).trim();
      if (line === 'CONTROL done') resolve(); else reject(new Error(`runner answered ${line}`));
    };
    process.stdin.on('data', onData);
    process.stdin.resume();
    process.stdout.write(`CONTROL ${what}\n`);
  });
}

function wrapGen(ret, check) {
  // rocketmq@2.0.1's pullKernelImpl is a generator function: wrap its result.
  return (function* () { return check(yield* ret); })();
}

async function main() {
  const [ client, scenario, namesrv, broker ] = process.argv.slice(2);
  let why;
  const timer = setTimeout(() => {
    process.stdout.write(`RESULT fail scenario timed out after ${SCENARIO_TIMEOUT_MS / 1000}s\n`);
    process.exit(1);
  }, SCENARIO_TIMEOUT_MS);
  try {
    if (!SCENARIOS[scenario]) throw new Error(`unknown scenario ${scenario}`);
    const api = clientApi(client, namesrv);
    why = await SCENARIOS[scenario](api, namesrv, broker);
    try {
      await api.shutdown();
    } catch (err) {
      console.error('[shutdown]', err.message);
    }
  } catch (err) {
    why = `${err.name}: ${err.message}`;
  }
  clearTimeout(timer);
  process.stdout.write(why ? `RESULT fail ${why}\n` : 'RESULT ok\n');
  process.exit(why ? 1 : 0);
}

process.on('unhandledRejection', err => console.error('[unhandledRejection]', err && err.message));
main();
