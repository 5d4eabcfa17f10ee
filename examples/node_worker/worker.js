#!/usr/bin/env node
// A dueq job consumer in JavaScript, written from docs/protocol.md alone.
//
//   node examples/node_worker/worker.js --url amqp://guest:guest@localhost:5672/%2F \
//       --prefix dueq --queue default
//
// SIGTERM or SIGINT stops taking messages, lets running jobs finish within
// --shutdown-timeout, publishes worker_offline and exits 0.

const { parseArgs } = require("node:util");
const { Worker } = require("./lib/consumer");
const { DEFAULT_SCHEMA_DIR } = require("./lib/protocol");
const { JOBS } = require("./jobs");

const USAGE = `usage: node worker.js [--url URL] [--prefix dueq] [--queue default]
       [--queue-type quorum|classic] [--concurrency 4] [--heartbeat-interval 10]
       [--shutdown-timeout 30] [--schema-dir DIR] [--signing-key KEY (default: $DUEQ_SIGNING_KEY)]`;

const OPTIONS = {
  url: { type: "string", default: process.env.DUEQ_BROKER_URL || "amqp://guest:guest@localhost:5672/%2F" },
  prefix: { type: "string", default: "dueq" },
  queue: { type: "string", default: "default" },
  "queue-type": { type: "string", default: "quorum" },
  concurrency: { type: "string", default: "4" },
  "heartbeat-interval": { type: "string", default: "10" },
  "shutdown-timeout": { type: "string", default: "30" },
  "schema-dir": { type: "string", default: DEFAULT_SCHEMA_DIR },
  // The shared HMAC key: verify runs, sign events (docs/protocol.md#signing); off when unset.
  "signing-key": { type: "string", default: process.env.DUEQ_SIGNING_KEY || "" },
  help: { type: "boolean", default: false },
};

function readConfig(argv) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS }));
  } catch (err) {
    usage(err.message); // an unknown option or a missing value
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const config = {
    url: values.url,
    prefix: values.prefix,
    queue: values.queue,
    queueType: values["queue-type"],
    concurrency: Number(values.concurrency),
    heartbeatInterval: Number(values["heartbeat-interval"]),
    shutdownTimeout: Number(values["shutdown-timeout"]),
    schemaDir: values["schema-dir"],
    signingKey: values["signing-key"] ? Buffer.from(values["signing-key"]) : null,
  };
  if (!["quorum", "classic"].includes(config.queueType)) usage("--queue-type is quorum or classic");
  if (!Number.isInteger(config.concurrency) || config.concurrency < 1) usage("--concurrency must be at least 1");
  if (!(config.heartbeatInterval > 0) || !(config.shutdownTimeout >= 0)) usage("intervals are positive seconds");
  return config;
}

function usage(problem) {
  console.error(`${USAGE}\nerror: ${problem}`);
  process.exit(2);
}

function log(line) {
  console.error(`${new Date().toISOString()} ${line}`);
}

async function main() {
  const worker = new Worker(readConfig(process.argv.slice(2)), JOBS, log);
  const stop = (signal) => {
    log(`${signal}: stopping`);
    worker.stop().then(
      () => process.exit(0),
      (err) => worker.die(`while stopping: ${err.message}`),
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await worker.start();
}

main().catch((err) => {
  log(`fatal: ${err.stack || err}`);
  process.exit(1);
});
