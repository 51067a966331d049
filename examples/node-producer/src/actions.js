'use server';
// What a Next.js app's Server Actions (the story's `src/app/actions/job.ts`) do: validate the
// input with Zod, add the job with BullMQ, return something serialisable to the browser.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

import { AREAS_QUEUE, AreaRef, PLAN_JOB, TEST_JOB, TEST_QUEUE, TestJobPayload, planJobId } from './jobs.js';
import { getQueue } from './queue.js';

/**
 * @typedef {{ ok: true, jobId: string } | { ok: false, errors: Record<string, string[] | undefined> }} ActionResult
 * @typedef {Pick<import('bullmq').JobsOptions, 'jobId' | 'attempts' | 'backoff' | 'delay' | 'priority' | 'removeOnComplete' | 'removeOnFail'>} JobOptions
 */

/** Options a web app typically sets: its own id, retries with backoff, bounded history. */
export const DEFAULT_OPTIONS = /** @type {const} */ ({
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
});

/**
 * Validate a test job and add it to `test-jobs`.
 * @param {unknown} input the form's data, untrusted
 * @param {JobOptions} [options] overrides of DEFAULT_OPTIONS (delay, priority, ...)
 * @returns {Promise<ActionResult>}
 */
export async function addTestJob(input, options = {}) {
  const parsed = TestJobPayload.safeParse(input);
  if (!parsed.success) return { ok: false, errors: z.flattenError(parsed.error).fieldErrors };
  const jobId = options.jobId ?? randomUUID().replaceAll('-', '');
  const job = await getQueue(TEST_QUEUE).add(TEST_JOB, parsed.data, { ...DEFAULT_OPTIONS, ...options, jobId });
  return { ok: true, jobId: /** @type {string} */ (job.id) };
}

/**
 * Queue the planning of an area that is already stored (POST /api/areas stores and queues it;
 * this adds the same job id, so calling it again, e.g. from a "retry" button, plans it once).
 * @param {unknown} areaId
 * @returns {Promise<ActionResult>}
 */
export async function addAreaJob(areaId) {
  const parsed = AreaRef.safeParse({ area_id: areaId });
  if (!parsed.success) return { ok: false, errors: z.flattenError(parsed.error).fieldErrors };
  const job = await getQueue(AREAS_QUEUE).add(PLAN_JOB, parsed.data, {
    ...DEFAULT_OPTIONS,
    jobId: planJobId(parsed.data.area_id),
  });
  return { ok: true, jobId: /** @type {string} */ (job.id) };
}

/**
 * Create an area through areafetch's HTTP API, which validates the geometry, stores the area in
 * PostgreSQL and queues its plan job; a Next.js app never writes areafetch's tables itself.
 * With AREAFETCH_API_TOKENS set on the web app, give one of them here (AREAFETCH_API_TOKEN).
 * @param {unknown} body `{ name, area | bbox, sources, categories }` as POST /api/areas takes it
 * @param {string} [apiUrl]
 * @param {string} [token]
 * @returns {Promise<{ ok: true, areaId: string, jobId: string } | { ok: false, status: number, detail: unknown }>}
 */
export async function createArea(
  body,
  apiUrl = process.env.AREAFETCH_API_URL ?? 'http://127.0.0.1:8000',
  token = process.env.AREAFETCH_API_TOKEN,
) {
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${apiUrl}/api/areas`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  const data = await response.json();
  if (response.status !== 202) return { ok: false, status: response.status, detail: data };
  return { ok: true, areaId: data.area_id, jobId: data.job_id };
}
