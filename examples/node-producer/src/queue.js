// The producer side (the story's `src/lib/queue.ts`): one Queue and one QueueEvents per queue
// name, created on first use and reused by every request of the (Next.js) server process.
import { Queue, QueueEvents } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import { Redis } from 'ioredis';

/** REDIS_URL: `redis://[user:password@]host:port/db` or `rediss://` (the worker's AREAFETCH_REDIS_URL). */
const redisUrl = () => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';

// Connections are built here and handed to BullMQ as client instances: BullMQ 6 no longer loads
// ioredis itself in native ESM, and BullMQ 5 takes instances just as well.
/** A client for adding jobs: fails fast while Redis is down (a web request must not hang). */
const producerClient = () => track(new Redis(redisUrl(), { maxRetriesPerRequest: 3 }));
/** A client for QueueEvents, which blocks on the events stream and may wait forever. */
const blockingClient = () => track(new Redis(redisUrl(), { maxRetriesPerRequest: null }));

/** @type {Redis[]} */
const clients = [];
const track = (/** @type {Redis} */ client) => (clients.push(client), client);

/** BullMQ's key prefix; areafetch's AREAFETCH_QUEUE_PREFIX, `bull` unless configured. */
export const prefix = () => process.env.QUEUE_PREFIX ?? 'bull';

/** @type {Map<string, Queue>} */
const queues = new Map();
/** @type {Map<string, QueueEvents>} */
const listeners = new Map();

/** The Queue of `name` (created once). */
export function getQueue(/** @type {string} */ name) {
  let queue = queues.get(name);
  if (!queue) {
    // BullMQ's OpenTelemetry support: each job carries the trace it was added in (`opts.tm`), and
    // areafetch's worker continues it. Without an OpenTelemetry SDK in the process it costs nothing.
    const telemetry = new BullMQOtel('areafetch-node-producer');
    queue = new Queue(name, { connection: producerClient(), prefix: prefix(), telemetry });
    queues.set(name, queue);
  }
  return queue;
}

/** The QueueEvents of `name` (created once), ready to receive events. */
export async function getQueueEvents(/** @type {string} */ name) {
  let events = listeners.get(name);
  if (!events) {
    events = new QueueEvents(name, { connection: blockingClient(), prefix: prefix() });
    listeners.set(name, events);
  }
  await events.waitUntilReady();
  return events;
}

export async function closeAll() {
  await Promise.all([...queues.values(), ...listeners.values()].map((item) => item.close()));
  // BullMQ leaves client instances it was given open: they are ours to quit.
  await Promise.all(clients.splice(0).map((client) => client.quit()));
  queues.clear();
  listeners.clear();
}
