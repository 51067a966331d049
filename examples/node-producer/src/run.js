#!/usr/bin/env node
// Command line driver: adds jobs through the actions and follows them with QueueEvents, one JSON
// line per event on stdout (the Python test suite reads them).
//
//   node src/run.js test '{"message":"hi"}' ['{"delay":1000,"priority":5}']   a test job
//   node src/run.js area '{"name":"x","bbox":[...],"sources":[...],"categories":[...]}'
//   node src/run.js plan <area-id>                          queue an area's plan job
//   node src/run.js raw <queue> <name> '<data>' ['<opts>']  add without validation (a careless producer)
//   node src/run.js validate < samples.json                 Zod's verdict on [{queue, name, data}]
//
// Env: REDIS_URL, QUEUE_PREFIX (default bull), AREAFETCH_API_URL, WAIT_TIMEOUT_MS (default 60000);
// TRACEPARENT (a W3C `traceparent`): add the jobs inside that trace, as a traced request would.
import { readFileSync } from 'node:fs';
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { Job } from 'bullmq';

import { addAreaJob, addTestJob, createArea } from './actions.js';
import { AREAS_QUEUE, PAYLOADS, PlanAreaResult, TEST_QUEUE, TestJobResult } from './jobs.js';
import { closeAll, getQueue, getQueueEvents } from './queue.js';

const print = (/** @type {Record<string, unknown>} */ record) => process.stdout.write(`${JSON.stringify(record)}\n`);
const timeoutMs = Number(process.env.WAIT_TIMEOUT_MS ?? 60_000);

/**
 * Follow job `jobId` on `queueName` until it completes or fails for good; print what Node sees.
 * @param {string} queueName
 * @param {string} jobId
 * @param {import('zod').ZodType} [resultSchema] parses the return value
 * @returns {Promise<boolean>} whether it completed
 */
async function follow(queueName, jobId, resultSchema) {
  const events = await getQueueEvents(queueName);
  const outcome = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`job ${jobId}: no outcome within ${timeoutMs} ms`)), timeoutMs);
    /** @param {string} name @param {(args: any) => void} [then] */
    const on = (name, then) =>
      events.on(/** @type {any} */ (name), (/** @type {any} */ args) => {
        if (args.jobId !== jobId) return;
        print({ event: name, jobId, ...args, at: Date.now() });
        if (then) {
          clearTimeout(timer);
          then(args);
        }
      });
    on('active');
    on('progress');
    on('delayed');
    on('completed', (args) => resolve({ completed: true, returnvalue: args.returnvalue }));
    on('failed', () => resolve({ completed: false }));
  });
  // The job may have finished before the listener started (a fast worker): then read it.
  const early = await Job.fromId(getQueue(queueName), jobId);
  const state = early ? await early.getState() : 'missing';
  const result = /** @type {{ completed: boolean, returnvalue?: unknown }} */ (
    state === 'completed' || state === 'failed' ? { completed: state === 'completed' } : await outcome
  );
  const job = await Job.fromId(getQueue(queueName), jobId);
  let parsed = null;
  if (result.completed && resultSchema) {
    // BullMQ 5 hands listeners the parsed return value (older releases passed the JSON text).
    const fromEvent = typeof result.returnvalue === 'string' ? JSON.parse(result.returnvalue) : result.returnvalue;
    parsed = resultSchema.parse(job ? job.returnvalue : fromEvent);
  }
  print({
    event: 'outcome',
    jobId,
    completed: result.completed,
    result: parsed,
    job: job
      ? {
          id: job.id,
          name: job.name,
          state: await job.getState(),
          returnvalue: job.returnvalue,
          progress: job.progress,
          attemptsMade: job.attemptsMade,
          failedReason: job.failedReason,
          timestamp: job.timestamp,
          processedOn: job.processedOn,
          finishedOn: job.finishedOn,
          opts: job.opts,
        }
      : null,
  });
  return result.completed;
}

/** @param {string[]} argv */
async function main([command, ...args]) {
  switch (command) {
    case 'test': {
      await getQueueEvents(TEST_QUEUE); // listening before the job exists: no event is missed
      const added = await addTestJob(JSON.parse(args[0]), args[1] ? JSON.parse(args[1]) : {});
      print({ event: 'added', ...added });
      if (!added.ok) return 2;
      return (await follow(TEST_QUEUE, added.jobId, TestJobResult)) ? 0 : 1;
    }
    case 'raw': {
      const [queueName, name, data, opts] = args;
      await getQueueEvents(queueName);
      const job = await getQueue(queueName).add(name, JSON.parse(data), opts ? JSON.parse(opts) : {});
      print({ event: 'added', ok: true, jobId: job.id });
      return (await follow(queueName, /** @type {string} */ (job.id))) ? 0 : 1;
    }
    case 'area': {
      await getQueueEvents(AREAS_QUEUE);
      const created = await createArea(JSON.parse(args[0]));
      print({ event: 'created', ...created });
      if (!created.ok) return 2;
      const added = await addAreaJob(created.areaId); // the same job id: a no-op, shown for its idempotence
      print({ event: 'added', ...added });
      if (!added.ok) return 2;
      return (await follow(AREAS_QUEUE, added.jobId, PlanAreaResult)) ? 0 : 1;
    }
    case 'plan': {
      await getQueueEvents(AREAS_QUEUE);
      const added = await addAreaJob(args[0]);
      print({ event: 'added', ...added });
      if (!added.ok) return 2;
      return (await follow(AREAS_QUEUE, added.jobId, PlanAreaResult)) ? 0 : 1;
    }
    case 'validate': {
      const samples = JSON.parse(readFileSync(0, 'utf8'));
      const schemas = /** @type {Record<string, Record<string, import('zod').ZodType>>} */ (PAYLOADS);
      const verdicts = samples.map((/** @type {any} */ s) => {
        const result = schemas[s.queue][s.name].safeParse(s.data);
        return result.success ? { ok: true, data: result.data } : { ok: false, fields: result.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys : [i.path.join('.')])) };
      });
      print({ event: 'verdicts', verdicts });
      return 0;
    }
    default:
      process.stderr.write('usage: node src/run.js test|area|plan|raw|validate ... (see the header)\n');
      return 64;
  }
}

/** The context to run in: the trace of TRACEPARENT (what an app's OpenTelemetry SDK would set up). */
function tracedContext() {
  if (!process.env.TRACEPARENT) return context.active();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return propagation.extract(context.active(), { traceparent: process.env.TRACEPARENT });
}

let code = 1;
try {
  code = await context.with(tracedContext(), () => main(process.argv.slice(2)));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.stack : error}\n`);
} finally {
  await closeAll();
}
process.exit(code);
