// The WebSocket of the signed-in person's job and wallet events (/api/v1/ws). Browsers cannot
// set headers on a WebSocket, so the access token goes as ?access_token=.
import { api } from './api';

export interface LiveEvent {
  type: string; // job.status, job.progress, wallet.balance, hello, ping, resync
  job_id?: string;
  wallet_id?: string;
  status?: string;
  data?: unknown;
  seq?: number;
  at: string;
}

export interface Live {
  close(): void;
}

/** connect opens the socket and resolves once the server said hello (events from then on are delivered). */
export async function connect(onEvent: (ev: LiveEvent) => void, onClose?: () => void): Promise<Live> {
  if (!api.accessToken) await api.refresh();
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${proto}//${location.host}/api/v1/ws?access_token=${encodeURIComponent(api.accessToken ?? '')}`;
  const ws = new WebSocket(url);
  let hello = false;
  return new Promise<Live>((resolve, reject) => {
    ws.onmessage = (m) => {
      let ev: LiveEvent;
      try {
        ev = JSON.parse(String(m.data)) as LiveEvent;
      } catch {
        return;
      }
      if (ev.type === 'hello' && !hello) {
        hello = true;
        resolve({ close: () => ws.close() });
        return;
      }
      onEvent(ev);
    };
    ws.onerror = () => {
      if (!hello) reject(new Error('websocket'));
    };
    ws.onclose = () => {
      if (!hello) reject(new Error('websocket'));
      else onClose?.();
    };
  });
}

type Listener = (ev: LiveEvent) => void;

/**
 * Hub keeps one WebSocket for the app and remembers the recent events of each job, so a page
 * opened after a job's first events (the ask page submits, then shows the job) still sees them.
 */
export class Hub {
  private live: Live | null = null;
  private opening: Promise<void> | null = null;
  private listeners = new Set<Listener>();
  private recent = new Map<string, LiveEvent[]>();

  constructor(private readonly open: typeof connect = connect) {}

  /** ensure opens the socket once; it resolves when events flow. */
  ensure(): Promise<void> {
    if (this.live) return Promise.resolve();
    if (!this.opening) {
      this.opening = this.open(
        (ev) => this.dispatch(ev),
        () => {
          this.live = null;
        },
      )
        .then((l) => {
          this.live = l;
        })
        .finally(() => {
          this.opening = null;
        });
    }
    return this.opening;
  }

  get connected(): boolean {
    return this.live !== null;
  }

  dispatch(ev: LiveEvent) {
    if (ev.job_id) {
      const list = this.recent.get(ev.job_id) ?? [];
      list.push(ev);
      if (list.length > 500) list.shift();
      this.recent.set(ev.job_id, list);
      if (this.recent.size > 50) this.recent.delete(this.recent.keys().next().value as string);
    }
    for (const l of this.listeners) l(ev);
  }

  /** subscribe replays the remembered events of jobId (if given), then delivers every new event. */
  subscribe(fn: Listener, jobId?: string): () => void {
    if (jobId) for (const ev of this.recent.get(jobId) ?? []) fn(ev);
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close() {
    this.live?.close();
    this.live = null;
    this.recent.clear();
  }
}

export const hub = new Hub();
