// One cold start of handler.mjs, run by benchmarks/cold_start.py as `node child.mjs STARTED_MS EVENT_JSON`:
// the same phases as the Python child, on the same clock (process.hrtime is CLOCK_MONOTONIC, as Python's
// time.monotonic), printed as one JSON line.
const ms = () => Number(process.hrtime.bigint()) / 1e6;
const started = Number(process.argv[2]);
const phases = { interpreter: ms() - started };
let t = ms();
const { handler } = await import("./handler.mjs");
phases["import handler"] = ms() - t;
t = ms();
const answer = await handler(JSON.parse(process.argv[3]));
phases["first request"] = ms() - t;
phases.total = ms() - started;
const cpu = process.cpuUsage();
phases["total cpu"] = (cpu.user + cpu.system) / 1000;
if (answer.status !== "200") {
  console.error(`first request: status ${answer.status}`);
  process.exit(1);
}
console.log(JSON.stringify(phases));
