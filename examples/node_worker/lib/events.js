// The bodies of the events this consumer publishes (docs/protocol.md, "Events").
//
// Each builder returns exactly the fields event.json lists for that event: the schema
// refuses unknown fields, so nothing extra is ever added.

const crypto = require("node:crypto");
const os = require("node:os");
const util = require("node:util");
const { formatUtc, nowUtc, secondsBetween } = require("./protocol");

// event.json: ExceptionInfo.traceback is at most 32 KiB, messages and reasons 4 KiB.
const MAX_TRACEBACK_CHARS = 32 * 1024;
const MAX_TEXT_CHARS = 4096;

// A return value that is not JSON is reported as its inspected form, cut to this length.
const MAX_REPR_CHARS = 1024;

class Identity {
  constructor() {
    this.hostname = os.hostname().slice(0, 255);
    this.pid = process.pid;
    this.workerId = `node-${this.hostname}-${this.pid}-${crypto.randomBytes(4).toString("hex")}`;
  }

  // The fields of every event.
  base(event) {
    return {
      protocol: 1,
      event,
      worker_id: this.workerId,
      hostname: this.hostname,
      pid: this.pid,
      emitted_at: formatUtc(nowUtc()),
    };
  }

  // The fields of every event about one run.
  about(event, run, redelivered) {
    const body = {
      ...this.base(event),
      run_id: run.runId,
      job_id: run.jobId,
      scheduled_at: formatUtc(run.scheduledAt),
      redelivered,
    };
    if (run.attempt > 1) body.attempt = run.attempt;
    return body;
  }

  started(run, startedAt, lateness, redelivered) {
    return { ...this.about("job_started", run, redelivered), started_at: formatUtc(startedAt), lateness_s: lateness };
  }

  // job_executed or job_error, from what the call produced.
  finished(run, outcome, lateness, redelivered) {
    const failed = outcome.failed;
    const body = this.about(failed ? "job_error" : "job_executed", run, redelivered);
    body.started_at = formatUtc(outcome.startedAt);
    body.finished_at = formatUtc(outcome.finishedAt);
    body.duration_s = Math.max(0, secondsBetween(outcome.finishedAt, outcome.startedAt));
    body.lateness_s = lateness;
    if (failed) {
      body.exception = outcome.timedOut
        ? { type: "TimeoutError", message: `the job ran longer than its timeout of ${run.timeout} s`, traceback: "" }
        : exceptionInfo(outcome.error);
      if (outcome.timedOut) body.timed_out = true;
      if (willRetry(run, body.exception.type)) body.retry_request = run.data;
    } else {
      [body.retval, body.retval_is_repr] = jsonRetval(outcome.retval);
    }
    return body;
  }

  missed(run, lateness, redelivered, reason = "misfire") {
    const body = {
      ...this.about("job_missed", run, redelivered),
      lateness_s: lateness,
      misfire_grace_time: reason === "coalesced" ? null : run.misfireGraceTime,
    };
    if (reason !== "misfire") body.reason = reason;
    return body;
  }

  maxInstances(run, running, redelivered) {
    const body = { ...this.about("job_max_instances", run, redelivered), max_instances: run.maxInstances, running };
    // This consumer neither waits nor cancels: a policy that would have is skipped, and says so.
    if (["buffer_one", "buffer_all", "cancel_other"].includes(run.overlap)) body.overlap_fallback = run.overlap;
    return body;
  }

  rejected(reason, ids) {
    return { ...this.base("job_rejected"), reason: reason.slice(0, MAX_TEXT_CHARS), ...ids };
  }
}

// Whether a failure with exception type `type` is to be retried: the run has a retry policy
// with attempts left, and retry_on is empty or names the type (JavaScript has no class
// names to walk the way Python's MRO is walked, so the name must match exactly).
function willRetry(run, type) {
  const policy = run.retry;
  if (!policy || run.attempt >= (policy.max_attempts ?? 3)) return false;
  const names = policy.retry_on ?? [];
  return names.length === 0 || names.includes(type);
}

// The return value if it is JSON, else its inspected form and true. undefined is null.
function jsonRetval(value) {
  if (value === undefined) return [null, false];
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined; // a cycle or a BigInt
  }
  if (text === undefined) return [util.inspect(value).slice(0, MAX_REPR_CHARS), true];
  return [JSON.parse(text), false];
}

// exception of a job_error. JavaScript prints the innermost frame first, so the head of
// the stack is what is kept.
function exceptionInfo(error) {
  const err = error instanceof Error ? error : new Error(String(error));
  return {
    type: String(err.name || err.constructor?.name || "Error").slice(0, 255),
    message: String(err.message).slice(0, MAX_TEXT_CHARS),
    traceback: String(err.stack || err).slice(0, MAX_TRACEBACK_CHARS),
  };
}

module.exports = { Identity, exceptionInfo, jsonRetval };
