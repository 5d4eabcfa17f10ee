"use strict";
// Message signing as docs/protocol.md#signing describes it, with node:crypto only:
// HMAC-SHA256 over "dueq-hmac-sha256-v1\n" + <AMQP type> + "\n" + <body>, hex in the
// x-dueq-signature header, the key's id in x-dueq-key-id. A worker signs every event it
// publishes and verifies every run before parsing it.

const crypto = require("node:crypto");

const SCHEME = "dueq-hmac-sha256-v1";
const RUN_TYPES = new Set(["dueq.run", "dueq.run.handover"]);

function keyId(key) {
  return crypto.createHash("sha256").update("dueq-key-id\n").update(key).digest("hex").slice(0, 16);
}

function mac(key, type, body) {
  return crypto.createHmac("sha256", key).update(`${SCHEME}\n${type}\n`).update(body).digest("hex");
}

// The headers that sign `body` (a Buffer) sent with AMQP type `type`.
function sign(key, type, body) {
  return { "x-dueq-signature": mac(key, type, body), "x-dueq-key-id": keyId(key) };
}

// Why the run message is not signed by `key`, or null if it is.
function verifyRun(key, properties, body) {
  const headers = properties.headers || {};
  const given = headers["x-dueq-signature"];
  if (typeof given !== "string") return "unsigned message (this worker requires x-dueq-signature)";
  if (headers["x-dueq-key-id"] !== keyId(key)) return "signed with an unknown key (x-dueq-key-id)";
  if (!RUN_TYPES.has(properties.type)) return `a message of type ${JSON.stringify(properties.type)} is not a run`;
  const expected = Buffer.from(mac(key, properties.type, body));
  const actual = Buffer.from(given.toLowerCase());
  if (actual.length !== expected.length || !crypto.timingSafeEqual(actual, expected)) return "bad signature";
  return null;
}

module.exports = { sign, verifyRun };
