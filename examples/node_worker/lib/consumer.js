// The consumer: each message through the steps of docs/protocol.md, in order.
//
//   parse → allowed? → duplicate? → misfire? → instance slot? → run → report → acknowledge
//
// Jobs run on Node's event loop (async functions await, CPU-bound ones block it), and the
// broker never gives this consumer more than `concurrency` unacknowledged runs (basic.qos).
// Everything up to taking an instance slot happens synchronously on delivery, so two runs
// arriving together can never both see a free slot.

const amqp = require("amqplib");
const { Layout, Publisher, connectAny, declareLayout, redactUrl } = require("./broker");
const { Identity } = require("./events");
const { BadMessage, Schemas, nowUtc, parseRun, secondsBetween } = require("./protocol");
const { verifyRun } = require("./signing");

// Run ids remembered for deduplication. A duplicate arrives soon after the original (a
// scheduler republish or a redelivery), so the newest hundred thousand are plenty.
const SEEN_RUN_IDS = 100_000;

// How often a stopping worker looks whether its running jobs have finished.
const DRAIN_POLL_MS = 50;

class Worker {
  constructor(config, jobs, log = console.error) {
    this.config = config;
    this.jobs = jobs;
    this.log = log;
    this.identity = new Identity();
    this.layout = new Layout(config);
    this.schemas = new Schemas(config.schemaDir);
    this.running = new Map(); // job_id -> runs in progress here
    this.seen = new Set(); // insertion-ordered, so the oldest is dropped first
    this.stopping = false;
  }

  get runningTotal() {
    let total = 0;
    for (const count of this.running.values()) total += count;
    return total;
  }

  // Connect, declare, consume. Resolves once consuming; failures reject.
  async start() {
    this.log(`connecting to ${redactUrl(this.config.url)}`);
    this.connection = await connectAny(amqp, this.config.url, this.log);
    this.connection.on("error", (err) => this.log(`connection error: ${err.message}`));
    this.connection.on("close", () => this.stopping || this.die("connection closed"));
    this.channel = await this.connection.createConfirmChannel();
    await declareLayout(this.channel, this.layout);
    this.publisher = new Publisher(this.channel, this.layout, this.log, this.config.signingKey);
    await this.channel.prefetch(this.config.concurrency);
    const { consumerTag } = await this.channel.consume(this.layout.runQueue, (msg) => this.onMessage(msg));
    this.consumerTag = consumerTag;
    await this.publish({
      ...this.identity.base("worker_online"),
      queues: [this.config.queue],
      concurrency: this.config.concurrency,
      executor: "event_loop",
      version: "node-example-1",
    });
    this.heartbeat = setInterval(() => this.beat(), this.config.heartbeatInterval * 1000);
    this.log(`consuming ${this.layout.runQueue} as ${this.identity.workerId}`);
  }

  // Stop taking messages, let running jobs finish within the timeout, say goodbye.
  async stop() {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.heartbeat);
    await this.channel.cancel(this.consumerTag);
    const deadline = Date.now() + this.config.shutdownTimeout * 1000;
    while (this.runningTotal > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    if (this.runningTotal > 0) this.log(`${this.runningTotal} runs still going; the broker will redeliver them`);
    await this.publish({ ...this.identity.base("worker_offline"), reason: "shutdown" });
    await this.connection.close(); // unacknowledged runs return to the queue
  }

  beat() {
    const body = {
      ...this.identity.base("worker_heartbeat"),
      queues: [this.config.queue],
      running: this.runningTotal,
      capacity: this.config.concurrency,
    };
    this.publish(body).catch((err) => this.die(`heartbeat failed: ${err.message}`));
  }

  // A failure to talk to the broker: exit and let RabbitMQ redeliver what was unacknowledged.
  die(why) {
    this.log(`fatal: ${why}`);
    process.exit(1);
  }

  // --- one message, step by step ------------------------------------------------------

  onMessage(msg) {
    if (msg === null) return this.die("the broker cancelled the consumer");
    if (this.stopping) return this.channel.nack(msg, false, true); // arrived while cancelling
    this.handle(msg).catch((err) => this.die(`while handling a message: ${err.stack || err}`));
  }

  async handle(msg) {
    let run;
    try {
      const key = this.config.signingKey;
      const refusal = key ? verifyRun(key, msg.properties, msg.content) : null;
      if (refusal !== null) {
        // Before a byte of the body is parsed.
        const messageId = msg.properties.messageId;
        throw new BadMessage(refusal, messageId ? { message_id: String(messageId).slice(0, 255) } : {});
      }
      run = parseRun(msg.content, this.schemas, msg.properties.messageId);
      if (!Object.hasOwn(this.jobs, run.func)) {
        throw new BadMessage(`function ${JSON.stringify(run.func)} is not allowed on this worker`, run.ids);
      }
    } catch (err) {
      if (!(err instanceof BadMessage)) throw err;
      return this.reject(msg, err);
    }
    return this.admit(run, msg);
  }

  // Steps 3-7: drop duplicates, refuse late runs and full slots, run the rest.
  async admit(run, msg) {
    const redelivered = msg.fields.redelivered;
    if (this.seen.has(run.runId)) {
      this.log(`run ${run.runId} is a duplicate; dropped`);
      return this.channel.ack(msg);
    }
    this.remember(run.runId);
    const now = nowUtc();
    const lateness = secondsBetween(now, run.scheduledAt);
    const running = this.running.get(run.jobId) || 0;
    if (run.misfireGraceTime !== null && lateness > run.misfireGraceTime) {
      await this.publish(this.identity.missed(run, lateness, redelivered));
    } else if (run.coalesce && run.nextScheduledAt && secondsBetween(now, run.nextScheduledAt) >= 0) {
      // A newer run of this coalescing job is already due: only the newest of a backlog runs.
      await this.publish(this.identity.missed(run, lateness, redelivered, "coalesced"));
    } else if (running >= run.maxInstances && run.overlap !== "allow_all") {
      await this.publish(this.identity.maxInstances(run, running, redelivered));
    } else {
      this.running.set(run.jobId, running + 1); // taken before any await: no race
      try {
        await this.publish(this.identity.started(run, now, lateness, redelivered));
        const outcome = await this.call(run);
        await this.publish(this.identity.finished(run, outcome, lateness, redelivered));
      } finally {
        this.release(run.jobId);
      }
    }
    this.channel.ack(msg);
  }

  async call(run) {
    const startedAt = nowUtc();
    let timer;
    // Node cannot stop a running function: past its timeout the run is reported timed
    // out and its slot freed; whatever it does later is ignored.
    const deadline = new Promise((resolve) => {
      if (run.timeout === null) return;
      timer = setTimeout(() => resolve({ startedAt, finishedAt: nowUtc(), failed: true, timedOut: true }),
        run.timeout * 1000);
    });
    const job = (async () => {
      try {
        const retval = await this.jobs[run.func](run.args, run.kwargs);
        return { startedAt, finishedAt: nowUtc(), failed: false, retval };
      } catch (error) {
        return { startedAt, finishedAt: nowUtc(), failed: true, error }; // reported, never fatal
      }
    })();
    try {
      return await Promise.race([job, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  // Bad messages: dead-letter with the reason, report job_rejected, acknowledge.
  async reject(msg, bad) {
    this.log(`dead-lettering message ${msg.properties.messageId}: ${bad.reason}`);
    await this.publisher.deadLetter(msg, bad.reason);
    await this.publish(this.identity.rejected(bad.reason, bad.ids));
    this.channel.ack(msg);
  }

  publish(body) {
    this.schemas.checkEvent(body);
    return this.publisher.event(body);
  }

  remember(runId) {
    this.seen.add(runId);
    if (this.seen.size > SEEN_RUN_IDS) this.seen.delete(this.seen.values().next().value);
  }

  release(jobId) {
    const left = (this.running.get(jobId) || 1) - 1;
    if (left > 0) this.running.set(jobId, left);
    else this.running.delete(jobId);
  }
}

module.exports = { Worker };
