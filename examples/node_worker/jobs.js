// The allowlist: the only functions this consumer will ever run, by registered name.
//
// A RunRequest names its function in `func`; this consumer looks the name up here and
// never evaluates anything else, so `os:system` in a message is refused, not run. Every
// function is called as fn(args, kwargs) with the RunRequest's JSON array and object and
// may return a value or a Promise. The conformance.* jobs are what the conformance kit
// (tests/conformance/) drives every consumer with; add your own next to them.

class ConformanceFailure extends Error {
  constructor(message) {
    super(message);
    this.name = "ConformanceFailure";
  }
}

const JOBS = {
  // Return the arguments, so a caller can see they arrived intact.
  "conformance.echo": (args, kwargs) => ({ args, kwargs }),

  // Throw, to prove failures are reported with their stack.
  "conformance.fail": (args, kwargs) => {
    throw new ConformanceFailure(args[0] ?? kwargs.message ?? "conformance failure");
  },

  // Hold an instance slot for a while, to exercise max_instances.
  "conformance.sleep": async (args, kwargs) => {
    const seconds = args[0] ?? kwargs.seconds ?? 1;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return seconds;
  },
};

module.exports = { ConformanceFailure, JOBS };
