// The producer side (the story's `src/lib/queue.ts`): one Queue and one QueueEvents per queue
// name, created on first use and reused by every request of the (Next.js) server process.
import { Queue, QueueEvents } from 'bullmq';

/** Redis connection options from REDIS_URL (`redis://[user:password@]host:port/db` or `rediss://`). */
export function redisConnection(url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0') {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    db: Number(parsed.pathname.slice(1) || 0),
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
    // A web request must fail fast while Redis is down rather than queue commands forever.
    maxRetriesPerRequest: 3,
  };
}

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
    queue = new Queue(name, { connection: redisConnection(), prefix: prefix() });
    queues.set(name, queue);
  }
  return queue;
}

/** The QueueEvents of `name` (created once), ready to receive events. */
export async function getQueueEvents(/** @type {string} */ name) {
  let events = listeners.get(name);
  if (!events) {
    // QueueEvents blocks on the events stream: it needs a connection that may wait forever.
    events = new QueueEvents(name, {
      connection: { ...redisConnection(), maxRetriesPerRequest: null },
      prefix: prefix(),
    });
    listeners.set(name, events);
  }
  await events.waitUntilReady();
  return events;
}

export async function closeAll() {
  await Promise.all([...queues.values(), ...listeners.values()].map((item) => item.close()));
  queues.clear();
  listeners.clear();
}
