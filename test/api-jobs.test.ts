/**
 * Long work through the HTTP API over a real socket (listen() on 127.0.0.1): a saved backup
 * job's progress arrives as Server-Sent Events while it runs; cancelling it mid-run stops it
 * (status cancelled, CANCELLED), commits no point, and the repository then checks clean; the
 * same job run to the end, then a restore job, report their progress the same way.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { listen, type Listening } from '../server/listen.ts';
import { JobManager, type JobEvent as ManagerEvent } from '../server/jobs.ts';
import { pseudoRandomBytes, TEST_KDF, tempDir } from './helpers.ts';
import { testServer } from './server-kit.ts';
import { snapshotTree, writeTree } from './tree.ts';

const PASSWORD = 'api-jobs password';
const work = await tempDir('bunker-api-jobs-');
const server = await testServer();
const listening: Listening = await listen(server.app.fetch, { host: '127.0.0.1', port: 0 });
test.after(async () => {
  await listening.close();
  await server[Symbol.asyncDispose]();
  await work[Symbol.asyncDispose]();
});

type Scope = 'read' | 'backup' | 'admin';

async function api<T = any>(method: string, path: string, scope: Scope, json?: unknown, status = 200): Promise<T> {
  const res = await fetch(listening.url + path, {
    method,
    headers: { authorization: `Bearer ${server.tokens[scope]}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await res.text();
  assert.is(res.status, status, `${method} ${path}: ${text}`);
  return JSON.parse(text) as T;
}

interface JobEvent {
  readonly event: string;
  readonly job: { id: string; status: string; progress: Record<string, unknown> | null; error: { code: string } | null; result: any };
}

/** The job's events over a real socket, as they arrive, until the stream ends. */
async function* jobEvents(id: string, scope: Scope): AsyncGenerator<JobEvent> {
  const res = await fetch(`${listening.url}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${server.tokens[scope]}` } });
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', 'text/event-stream');
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = res.body!.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    buffer += decoder.decode(read.value, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) yield { event, job: JSON.parse(data) };
    }
  }
}

const src = join(work.path, 'src');
// Enough incompressible data that the run lasts well past its first progress event.
const tree: Record<string, Uint8Array> = {};
for (let i = 0; i < 40; i++) tree[`f${String(i).padStart(2, '0')}.bin`] = pseudoRandomBytes(1024 * 1024, i + 1);
await writeTree(src, tree);
await api('POST', '/v1/repos', 'backup', { name: 'big' }, 201);
await api('POST', '/v1/passwords', 'admin', { name: 'pw', password: PASSWORD, kdf: { memoryKiB: TEST_KDF.memoryKiB, iterations: 1, parallelism: 1 } }, 201);
await api('POST', '/v1/backup-jobs', 'admin', { name: 'nightly', sources: [src], repo: 'big', password: 'pw', compression: 'none' }, 201);

// A job is only observable while it runs. While `holds` is set, the next job's source (or restore
// sink), whenever the job makes it, takes it and waits before its file number N until holds[N]
// resolves, so what a test must see of a running job does not depend on how fast the machine is.
let holds: readonly (Promise<void> | undefined)[] | undefined;

function hold(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

const fileHost = server.deps.files as { source: typeof server.deps.files.source; restoreSink: typeof server.deps.files.restoreSink };
const realSource = fileHost.source.bind(server.deps.files);
fileHost.source = async (paths, exclude) => {
  const source = await realSource(paths, exclude);
  const held = holds;
  holds = undefined;
  if (held === undefined) return source;
  return {
    ...source,
    async *entries() {
      let files = 0;
      for await (const entry of source.entries()) {
        if (entry.type === 'file') await held[files++];
        yield entry;
      }
    },
  };
};
const realSink = fileHost.restoreSink.bind(server.deps.files);
fileHost.restoreSink = (target, onWarning) => {
  const sink = realSink(target, onWarning);
  const held = holds;
  holds = undefined;
  if (held === undefined) return sink;
  let files = 0;
  const wait = async () => void (await held[files++]);
  return {
    plan: (entry) => sink.plan(entry),
    begin: () => sink.begin(),
    directory: (entry) => sink.directory(entry),
    symlink: (entry) => sink.symlink(entry),
    file: async (entry, data) => (await wait(), sink.file(entry, data)),
    ...(sink.smallFile ? { smallFile: async (entry, data) => (await wait(), sink.smallFile!(entry, data)) } : {}),
    commit: () => sink.commit(),
    abort: () => sink.abort(),
  };
};

/** Starts a job held before its second file, and collects its events, letting it go on once subscribed. */
async function heldJobEvents(start: () => Promise<{ job: { id: string } }>): Promise<JobEvent[]> {
  const subscribed = hold();
  holds = [undefined, subscribed.promise];
  const { job } = await start();
  const seen: JobEvent[] = [];
  for await (const event of jobEvents(job.id, 'admin')) {
    seen.push(event);
    if (seen.length === 1) subscribed.release();
  }
  return seen;
}

async function checkClean(): Promise<any> {
  const { job } = await api('POST', '/v1/repos/big/check', 'backup', { readData: true }, 202);
  const done = await server.deps.jobs.settled(job.id);
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  const report = done.result as { isOk: boolean; problems: unknown[] };
  assert.equal([report.isOk, report.problems], [true, []]);
  return report;
}

test('progress is throttled, but the latest update always reaches a subscriber before the final status, however short the job', async () => {
  const jobs = new JobManager();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const view = jobs.start('backup', 'backup', async ({ progress }) => {
    await gate;
    for (let files = 1; files <= 5; files++) progress({ files });
    return { files: 5 };
  });
  const seen: ManagerEvent[] = [];
  jobs.subscribe(view.id, (event) => seen.push(event));
  release();
  await jobs.settled(view.id);
  assert.equal(
    seen.map((e) => [e.type, e.job.status, e.job.progress?.files]),
    [['progress', 'running', 1], ['progress', 'running', 5], ['status', 'succeeded', 5]],
  );
});

test('the server sets no time limit on a whole request: a long streamed upload is not cut off (Node defaults to 300 s)', () => {
  assert.is(listening.requestTimeoutMs, 0);
});

test('cancelling a backup job mid-run: progress events first, then cancelled with CANCELLED; no point; the repository checks clean', async () => {
  // Held before its second file until subscribed, and before its third until the cancel is in.
  const subscribed = hold();
  const cancelSent = hold();
  holds = [undefined, subscribed.promise, cancelSent.promise];
  const { job } = await api<{ job: { id: string; status: string } }>('POST', '/v1/backup-jobs/nightly/run', 'backup', undefined, 202);
  assert.is(job.status, 'running');
  const seen: JobEvent[] = [];
  let cancelled = false;
  for await (const event of jobEvents(job.id, 'backup')) {
    seen.push(event);
    if (seen.length === 1) subscribed.release();
    if (event.event === 'progress' && !cancelled) {
      cancelled = true;
      const answer = await api('POST', `/v1/jobs/${job.id}/cancel`, 'backup', undefined, 202);
      assert.is(answer.id, job.id);
      cancelSent.release();
    }
  }
  assert.is(seen[0]!.event, 'status', 'the current state comes first');
  assert.is(seen[0]!.job.status, 'running');
  const progress = seen.filter((e) => e.event === 'progress');
  assert.ok(progress.length >= 1, 'a progress event while it ran');
  assert.type(progress[0]!.job.progress!.files, 'number');
  assert.type(progress[0]!.job.progress!.bytesRead, 'number');
  const last = seen.at(-1)!;
  assert.equal([last.event, last.job.status, last.job.error?.code], ['status', 'cancelled', 'CANCELLED']);
  assert.is(last.job.progress!.files, 2, 'it stopped at the next file after the cancel, not after reading all 40');
  const shown = await api('GET', `/v1/jobs/${job.id}`, 'backup');
  assert.equal([shown.status, shown.error.code, shown.result], ['cancelled', 'CANCELLED', null]);
  assert.equal((await api('GET', '/v1/repos/big/points', 'read')).points, [], 'nothing committed');
  assert.is((await api('GET', '/v1/backup-jobs/nightly', 'read')).lastPointId, null);
  await checkClean();
});

test('the job run to the end: progress events, then succeeded with the summary; restore job progress; exact bytes back', async () => {
  const seen = await heldJobEvents(() => api('POST', '/v1/backup-jobs/nightly/run', 'backup', undefined, 202));
  const last = seen.at(-1)!;
  assert.equal([last.event, last.job.status], ['status', 'succeeded'], JSON.stringify(last.job.error));
  assert.ok(seen.some((e) => e.event === 'progress' && e.job.progress!.files === 40), 'the final progress came as an event: ' + JSON.stringify(seen.map((e) => [e.event, e.job.progress?.files])));
  assert.equal([last.job.result.stats.files, last.job.result.keySource], [40, 'catalog']);
  const pointId: string = last.job.result.pointId;
  assert.is((await api('GET', '/v1/backup-jobs/nightly', 'read')).lastPointId, pointId);
  await checkClean();

  const restoreEvents = await heldJobEvents(() => api('POST', `/v1/repos/big/points/${pointId}/restore`, 'admin', { target: 'back' }, 202));
  const done = restoreEvents.at(-1)!;
  assert.equal([done.job.status, done.job.result.files, done.job.result.warnings], ['succeeded', 40, []], JSON.stringify(done.job.error));
  assert.ok(restoreEvents.some((e) => e.event === 'progress' && typeof e.job.progress!.bytesTotal === 'number'), 'restore progress');
  assert.equal(await snapshotTree(join(server.restoreRoot, 'back', 'src')), await snapshotTree(src));
});

test('a job is visible only to tokens that could have started it: a restore job is 403 to a backup token', async () => {
  const { points } = await api('GET', '/v1/repos/big/points', 'read');
  const { job } = await api('POST', `/v1/repos/big/points/${points[0].id}/restore`, 'admin', { target: 'again', include: ['src/f00.bin'] }, 202);
  const res = await fetch(`${listening.url}/v1/jobs/${job.id}/events`, { headers: { authorization: `Bearer ${server.tokens.backup}` } });
  assert.is(res.status, 403);
  assert.is((await res.json()).error.code, 'FORBIDDEN');
  assert.is((await server.deps.jobs.settled(job.id)).status, 'succeeded');
});

test.run();
