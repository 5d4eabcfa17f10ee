// The broker side: the layout of docs/protocol.md ("Broker layout") and confirmed publishes.
//
// RabbitMQ refuses a redeclaration whose arguments differ from the existing entity's, so
// every entity is declared with exactly the arguments dueq itself uses.

const { formatUtc, nowUtc } = require("./protocol");
const { sign } = require("./signing");

// docs/protocol.md: a quorum run queue dead-letters a message after this many deliveries.
const DELIVERY_LIMIT = 20;

class Layout {
  constructor({ prefix, queue, queueType = "quorum" }) {
    this.prefix = prefix;
    this.queue = queue;
    this.queueType = queueType;
    this.runsExchange = `${prefix}.runs`;
    this.runQueue = `${prefix}.runs.${queue}`;
    this.dlx = `${prefix}.dlx`;
    this.deadQueue = `${prefix}.dead`;
    this.eventsQueue = `${prefix}.events`;
  }

  runQueueArguments() {
    const args = { "x-queue-type": this.queueType, "x-dead-letter-exchange": this.dlx };
    if (this.queueType === "quorum") args["x-delivery-limit"] = DELIVERY_LIMIT;
    return args;
  }
}

// Declare the runs exchange and queue, the dead-letter pair and the events queue.
async function declareLayout(channel, layout) {
  // dueq declares its dead queue with the queue type as its only argument, and its events
  // queue like a run queue (dead-lettering and the delivery limit).
  const plain = { durable: true, arguments: { "x-queue-type": layout.queueType } };
  await channel.assertExchange(layout.runsExchange, "direct", { durable: true });
  await channel.assertExchange(layout.dlx, "fanout", { durable: true });
  await channel.assertQueue(layout.deadQueue, plain);
  await channel.bindQueue(layout.deadQueue, layout.dlx, "");
  await channel.assertQueue(layout.eventsQueue, { durable: true, arguments: layout.runQueueArguments() });
  await channel.assertQueue(layout.runQueue, { durable: true, arguments: layout.runQueueArguments() });
  await channel.bindQueue(layout.runQueue, layout.runsExchange, layout.queue);
}

// Publishes of one event before it is given up as lost when the broker nacks it (dueq's own
// worker sends it twice more, after a pause: docs/protocol.md, Events).
const EVENT_ATTEMPTS = 2;

// Publishes on a confirm channel; each call resolves once the broker confirmed.
class Publisher {
  constructor(channel, layout, log, signingKey = null) {
    this.channel = channel;
    this.layout = layout;
    this.log = log;
    this.signingKey = signingKey;
    // Confirmed but unroutable (the events queue is gone): retrying cannot help.
    channel.on("return", (msg) => log(`event lost: no queue named ${msg.fields.routingKey}`));
  }

  // Publish an event to the events queue through the default exchange, signed with a key.
  // Never to a run's reply_to: whoever can publish a run could name any queue there.
  // An event the broker nacks (the queue refused it, at a length limit say) is published
  // once more, then logged as lost and the promise resolves: the run is settled anyway, so
  // it never stays unacknowledged. Any other failure (the channel is gone) rejects.
  async event(body) {
    for (let attempt = 1; attempt <= EVENT_ATTEMPTS; attempt++) {
      try {
        return await this.publishEvent(body);
      } catch (err) {
        if (!isNack(err)) throw err;
        this.log(`event ${body.event} nacked by the broker (attempt ${attempt})`);
      }
    }
    this.log(`event ${body.event} lost: nacked ${EVENT_ATTEMPTS} times`);
  }

  publishEvent(body) {
    const content = Buffer.from(JSON.stringify(body));
    const headers = this.signingKey ? sign(this.signingKey, body.event, content) : undefined;
    return this.publish("", this.layout.eventsQueue, content, {
      contentType: "application/json",
      deliveryMode: 2,
      correlationId: body.run_id,
      type: body.event,
      headers,
      mandatory: true,
    });
  }

  // Republish a bad message to the DLX with the reason headers (docs: Bad messages).
  deadLetter(msg, reason) {
    const { expiration: _dropped, ...properties } = msg.properties; // a parked message must not expire
    // x-delivery-count belongs to one delivery from one quorum queue; a copy would lie.
    const { "x-delivery-count": _count, ...kept } = properties.headers || {};
    const headers = {
      ...kept,
      "x-dueq-reason": reason,
      "x-dueq-source-queue": this.layout.runQueue,
      "x-dueq-dead-at": formatUtc(nowUtc()),
    };
    return this.publish(this.layout.dlx, msg.fields.routingKey, msg.content, {
      ...withoutUndefined(properties),
      headers,
      mandatory: true,
    });
  }

  publish(exchange, routingKey, content, options) {
    return new Promise((resolve, reject) => {
      this.channel.publish(exchange, routingKey, content, options, (err) => (err ? reject(err) : resolve()));
    });
  }
}

// amqplib fails a confirm-channel publish the broker nacked with exactly this message.
function isNack(err) {
  return err instanceof Error && err.message === "message nacked";
}

function withoutUndefined(object) {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined));
}

// The nodes of a failover URL ("amqp://n1;amqp://n2;amqp://n3", as dueq and kombu write it).
function splitUrls(url) {
  return url.split(";").map((part) => part.trim()).filter((part) => part);
}

// url (or every node of a failover URL) with its password replaced by ***, for logs.
function redactUrl(url) {
  return splitUrls(url)
    .map((node) => {
      try {
        const parsed = new URL(node);
        if (parsed.password) parsed.password = "***";
        return parsed.toString();
      } catch {
        return "<unparseable URL>";
      }
    })
    .join(";");
}

// Connect to the first node of a failover URL that answers.
async function connectAny(amqp, url, log) {
  let lastError = new Error("no broker URL given");
  for (const node of splitUrls(url)) {
    try {
      return await amqp.connect(node);
    } catch (err) {
      log(`cannot connect to ${redactUrl(node)}: ${err.message}`);
      lastError = err;
    }
  }
  throw lastError;
}

module.exports = { Layout, Publisher, connectAny, declareLayout, redactUrl, splitUrls };
