// A Node.js BullMQ worker whose processor does nothing: the reference of bench/queue_overhead.py.
// Usage: node noop_worker.mjs '{"queue": ..., "prefix": ..., "redis_url": ..., "concurrency": ..., ...}'
// Prints "ready" once the worker runs; on SIGTERM closes it (in-flight jobs finish) and exits.
import { Worker } from "bullmq";

const options = JSON.parse(process.argv[2]);
const url = new URL(options.redis_url);

const worker = new Worker(options.queue, async () => undefined, {
  prefix: options.prefix,
  concurrency: options.concurrency,
  lockDuration: options.lock_duration_ms,
  stalledInterval: options.stalled_interval_ms,
  maxStalledCount: options.max_stalled_count,
  connection: {
    host: url.hostname,
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1) || 0),
    password: url.password ? decodeURIComponent(url.password) : undefined,
    maxRetriesPerRequest: null,
  },
});
worker.on("error", (err) => console.error(`worker error: ${err}`));
await worker.waitUntilReady();
console.log("ready");

const stop = async () => {
  await worker.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
