// Reading RunRequests and checking events, exactly as docs/protocol.md describes them.
//
// Everything is plain JSON checked against the published JSON Schemas (draft 2020-12) with
// ajv; nothing comes from dueq's own code. A message that fails any check becomes a
// BadMessage carrying a one-line reason and whatever ids could be read from it, for the
// dead-letter headers and the job_rejected event.

const fs = require("node:fs");
const path = require("node:path");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

// docs/protocol/ of the dueq checkout this example lives in.
const DEFAULT_SCHEMA_DIR = path.resolve(__dirname, "..", "..", "..", "docs", "protocol");

// The protocol version this consumer speaks; any other is refused by name.
const PROTOCOL_VERSION = 1;

// docs/protocol.md, "Bad messages": anything larger is refused before parsing.
const MAX_MESSAGE_BYTES = 1024 * 1024;

// docs/protocol.md, RunRequest: args and kwargs together, as compact JSON.
const MAX_ARGUMENTS_BYTES = 64 * 1024;

// How many schema errors a reason lists; the rest are counted.
const ERRORS_SHOWN = 3;

// RFC 3339 with an offset, as the schemas' pattern; the parts are kept so microseconds
// survive (a JavaScript Date holds milliseconds only).
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/;

class BadMessage extends Error {
  constructor(reason, ids = {}) {
    const line = reason.split(/\s+/).join(" ").slice(0, 4096); // one line, within the schema
    super(line);
    this.reason = line;
    this.ids = ids;
  }
}

// A protocol timestamp: whole seconds since the epoch plus microseconds, both integers.
function parseUtc(text) {
  const match = TIMESTAMP.exec(text);
  const seconds = match ? Date.parse(`${match[1]}${match[3]}`) / 1000 : Number.NaN;
  if (!Number.isFinite(seconds)) throw new Error(`invalid timestamp ${JSON.stringify(text)}`);
  return { seconds, micros: Number((match[2] || "").padEnd(6, "0")) };
}

// The protocol's timestamp form: UTC, six fractional digits, "Z".
function formatUtc(stamp) {
  const whole = new Date(stamp.seconds * 1000).toISOString().slice(0, 19);
  return `${whole}.${String(stamp.micros).padStart(6, "0")}Z`;
}

function nowUtc() {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), micros: (ms % 1000) * 1000 };
}

// a - b in seconds, as a float.
function secondsBetween(a, b) {
  return a.seconds - b.seconds + (a.micros - b.micros) / 1e6;
}

class Schemas {
  constructor(schemaDir = DEFAULT_SCHEMA_DIR) {
    const ajv = new Ajv2020({ allErrors: true, strictTypes: false });
    addFormats(ajv);
    const load = (name) => JSON.parse(fs.readFileSync(path.join(schemaDir, name), "utf8"));
    this.runRequest = ajv.compile(load("run_request.json"));
    this.event = ajv.compile(load("event.json"));
  }

  // Throw if an event we are about to send breaks event.json: that is a bug here.
  checkEvent(body) {
    if (!this.event(body)) {
      const first = this.event.errors[0];
      throw new Error(`refusing to send an invalid ${body.event}: ${first.instancePath} ${first.message}`);
    }
  }
}

// Step 1 of docs/protocol.md: size, JSON, version, schema, timestamps, argument size.
function parseRun(body, schemas, messageId) {
  const ids = messageId ? { message_id: String(messageId).slice(0, 255) } : {};
  if (body.length > MAX_MESSAGE_BYTES) {
    throw new BadMessage(`message is ${body.length} bytes; the limit is ${MAX_MESSAGE_BYTES}`, ids);
  }
  const data = decodeJson(body, ids);
  if (isObject(data)) {
    Object.assign(ids, readableIds(data));
    if (data.protocol !== undefined && data.protocol !== PROTOCOL_VERSION) {
      throw new BadMessage(
        `unsupported protocol version ${JSON.stringify(data.protocol)} (this consumer speaks ${PROTOCOL_VERSION})`,
        ids,
      );
    }
  }
  checkSchema(data, schemas, ids);
  return toRun(data, ids);
}

function decodeJson(body, ids) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (err) {
    throw new BadMessage(`invalid JSON: ${err.message}`, ids);
  }
}

function checkSchema(data, schemas, ids) {
  if (schemas.runRequest(data)) return;
  const parts = schemas.runRequest.errors.map((e) => `${e.instancePath.slice(1) || "message"}: ${e.message}`);
  const more = parts.length > ERRORS_SHOWN ? ` (and ${parts.length - ERRORS_SHOWN} more)` : "";
  throw new BadMessage(`invalid RunRequest: ${parts.slice(0, ERRORS_SHOWN).join("; ")}${more}`, ids);
}

function toRun(data, ids) {
  let scheduledAt;
  try {
    scheduledAt = parseUtc(data.scheduled_at);
    parseUtc(data.published_at);
  } catch (err) {
    throw new BadMessage(`invalid RunRequest: ${err.message}`, ids);
  }
  const args = data.args ?? [];
  const kwargs = data.kwargs ?? {};
  const size = Buffer.byteLength(JSON.stringify([args, kwargs]));
  if (size > MAX_ARGUMENTS_BYTES) {
    throw new BadMessage(`args and kwargs take ${size} bytes; the limit is ${MAX_ARGUMENTS_BYTES}`, ids);
  }
  return {
    runId: data.run_id,
    jobId: data.job_id,
    func: data.func,
    args,
    kwargs,
    scheduledAt,
    misfireGraceTime: data.misfire_grace_time ?? null,
    maxInstances: data.max_instances ?? 1,
    // Run control (docs/run-control.md): all optional.
    attempt: data.attempt ?? 1,
    retry: data.retry ?? null,
    timeout: data.timeout ?? null,
    coalesce: data.coalesce ?? false,
    nextScheduledAt: data.next_scheduled_at ? parseUtc(data.next_scheduled_at) : null,
    overlap: data.overlap ?? "skip",
    data, // the run as received, echoed in job_error.retry_request when it is retried
    ids,
  };
}

// The ids a job_rejected may carry: only those that are themselves valid.
function readableIds(data) {
  const found = {};
  for (const [key, limit] of [["run_id", 64], ["job_id", 255]]) {
    const value = data[key];
    if (typeof value === "string" && value.length > 0 && value.length <= limit) found[key] = value;
  }
  if (typeof data.scheduled_at === "string") {
    try {
      found.scheduled_at = formatUtc(parseUtc(data.scheduled_at));
    } catch {
      // unreadable: left out, as the schema allows
    }
  }
  return found;
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

module.exports = {
  BadMessage,
  DEFAULT_SCHEMA_DIR,
  Schemas,
  formatUtc,
  nowUtc,
  parseRun,
  parseUtc,
  secondsBetween,
};
