import { describe, expect, it } from 'vitest';
import { Hub, type LiveEvent } from './live';

const ev = (type: string, job_id: string, extra: Partial<LiveEvent> = {}): LiveEvent => ({ type, job_id, at: '', ...extra });

describe('Hub', () => {
  it('opens one socket for concurrent callers', async () => {
    let opened = 0;
    const hub = new Hub(async () => {
      opened++;
      return { close() {} };
    });
    await Promise.all([hub.ensure(), hub.ensure(), hub.ensure()]);
    await hub.ensure();
    expect(opened).toBe(1);
    expect(hub.connected).toBe(true);
  });

  it("replays a job's earlier events to a page that subscribes later, then delivers new ones", async () => {
    let push: (e: LiveEvent) => void = () => {};
    const hub = new Hub(async (on) => {
      push = on;
      return { close() {} };
    });
    await hub.ensure();
    push(ev('job.status', 'j1', { status: 'pending' }));
    push(ev('job.progress', 'j1', { data: 'The ' }));
    push(ev('job.status', 'j2', { status: 'running' }));
    const seen: string[] = [];
    const off = hub.subscribe((e) => seen.push(`${e.job_id}:${e.type}:${e.status ?? e.data}`), 'j1');
    push(ev('job.status', 'j1', { status: 'completed' }));
    off();
    push(ev('job.status', 'j1', { status: 'late' }));
    expect(seen).toEqual(['j1:job.status:pending', 'j1:job.progress:The ', 'j1:job.status:completed']);
  });

  it('opens again after the socket closed', async () => {
    let opened = 0;
    let closed: () => void = () => {};
    const hub = new Hub(async (_on, onClose) => {
      opened++;
      closed = onClose ?? (() => {});
      return { close() {} };
    });
    await hub.ensure();
    closed();
    expect(hub.connected).toBe(false);
    await hub.ensure();
    expect(opened).toBe(2);
  });
});
