// The areafetch job contract for Node.js: queue and job names, and Zod schemas of job data and
// return values, written to match the JSON Schemas in the repository's `schemas/` folder (a test
// in the Python suite feeds the same samples to these schemas and to the Pydantic models).
import { z } from 'zod';

export const TEST_QUEUE = 'test-jobs';
export const AREAS_QUEUE = 'areas';
export const TEST_JOB = 'test';
export const PLAN_JOB = 'plan';
export const FETCH_JOB = 'fetch';
export const FINALISE_JOB = 'finalise';

const SOURCES = /** @type {const} */ (['overpass', 'google_places', 'osm_extract']);
const ms = () => z.number().int().min(0).max(600_000);

// schemas/test-jobs.test.payload.json
export const TestJobPayload = z.strictObject({
  message: z.string().min(1).max(200),
  fail: z.boolean().default(false),
  work_ms: ms().default(0),
  cpu_ms: ms().default(0),
});

// schemas/test-jobs.test.result.json
export const TestJobResult = z.strictObject({
  message: z.string(),
  worker_pid: z.number().int(),
  started_at: z.iso.datetime({ offset: true }),
  finished_at: z.iso.datetime({ offset: true }),
  cpu_iterations: z.number().int().default(0),
});

// schemas/areas.plan.payload.json (and areas.finalise.payload.json)
export const AreaRef = z.strictObject({ area_id: z.uuid() });

// schemas/areas.plan.result.json
export const PlanAreaResult = z.strictObject({
  tiles: z.number().int().min(0),
  upstream_calls: z.partialRecord(z.enum(SOURCES), z.number().int()),
});

// schemas/areas.fetch.payload.json: added by the worker's plan job, never by a web app.
export const FetchTilePayload = z.strictObject({
  area_id: z.uuid(),
  source: z.enum(SOURCES),
  tile_id: z.string().min(1).max(512),
});

/** Payload schema of each job, by queue and job name. */
export const PAYLOADS = {
  [TEST_QUEUE]: { [TEST_JOB]: TestJobPayload },
  [AREAS_QUEUE]: { [PLAN_JOB]: AreaRef, [FETCH_JOB]: FetchTilePayload, [FINALISE_JOB]: AreaRef },
};

/** The plan job of an area has this id, whoever adds it: adding it twice plans the area once. */
export const planJobId = (/** @type {string} */ areaId) => `${areaId}.plan`;

/** @typedef {z.input<typeof TestJobPayload>} TestJobInput */
/** @typedef {z.output<typeof TestJobResult>} TestJobResultData */
/** @typedef {z.output<typeof PlanAreaResult>} PlanAreaResultData */
