/**
 * One subscription: its definition and live numbers, pause and resume, rate and latency over the last
 * hour, how many attempts deliveries took, and its recent failures with their errors.
 */
import { useMemo, useState } from 'preact/hooks';
import type { SubscriptionHistory } from '../api.js';
import { AttemptsHistogram } from '../components/attempts.js';
import { Chart } from '../components/chart.js';
import * as format from '../format.js';
import { href } from '../router.js';
import { useErrors, useFlow, useLoad, useSession } from '../session.js';
import { ErrorNote } from '../components/error-note.js';

function targetText(target: Readonly<Record<string, unknown>>): string {
  if (target['type'] === 'webhook') return `webhook ${String(target['url'])}`;
  return String(target['type']);
}

function Charts({ history }: { history: SubscriptionHistory }) {
  const times = useMemo(() => history.minutes.map((m) => m.at), [history]);
  const rates = useMemo(
    () => [
      { label: 'delivered', stroke: '#2f855a', values: history.minutes.map((m) => m.delivered) },
      { label: 'failed', stroke: '#c53030', values: history.minutes.map((m) => m.failed) },
    ],
    [history],
  );
  const latency = useMemo(
    () => [
      { label: 'p50', stroke: '#2b6cb0', values: history.minutes.map((m) => m.p50Ms) },
      { label: 'p99', stroke: '#b7791f', values: history.minutes.map((m) => m.p99Ms) },
    ],
    [history],
  );
  return (
    <div class="charts">
      <Chart title="Attempts per minute" times={times} series={rates} unit={(v) => format.count(Math.round(v))} />
      <Chart title="End-to-end latency" times={times} series={latency} unit={(v) => format.duration(v)} />
    </div>
  );
}

export function SubscriptionPage({ name }: { name: string }) {
  const { api } = useSession();
  const { snapshot } = useFlow();
  const sub = useLoad(() => api.client.subscriptions.get(name), [api, name], 5_000);
  const history = useLoad(() => api.history(name), [api, name], 10_000);
  const action = useErrors();
  const [busy, setBusy] = useState(false);
  const live = snapshot?.subscriptions.find((s) => s.name === name);

  const toggle = (pause: boolean): void => {
    setBusy(true);
    action.clear();
    (pause ? api.client.subscriptions.pause(name) : api.client.subscriptions.resume(name))
      .then(() => sub.reload(), action.report)
      .finally(() => setBusy(false));
  };

  const s = sub.data;
  const status = live?.status ?? (s?.paused === true ? 'paused' : undefined);
  return (
    <section>
      <p class="crumbs">
        <a href={href('flow')}>Flow</a> / subscription
      </p>
      <h1>
        {name} {status === undefined ? null : <span class={`badge status-${status}`}>{status}</span>}
      </h1>
      <ErrorNote message={sub.error} />
      <ErrorNote message={action.error} />
      {s === undefined ? (
        <p class="muted">Loading…</p>
      ) : (
        <>
          <div class="actions">
            {s.paused ? (
              <button type="button" disabled={busy} onClick={() => toggle(false)}>
                Resume
              </button>
            ) : (
              <button type="button" disabled={busy} onClick={() => toggle(true)}>
                Pause
              </button>
            )}
            <a class="button secondary" href={href('dead-letters', name)}>
              Dead letters ({format.count(s.stats.dead)})
            </a>
            <a class="button secondary" href={href('events', s.bus)}>
              Events of {s.bus}
            </a>
          </div>
          <dl class="facts">
            <dt>Bus</dt>
            <dd>{s.bus}</dd>
            <dt>Target</dt>
            <dd>{targetText(s.target)}</dd>
            <dt>Pattern</dt>
            <dd>
              <code>{s.pattern}</code>
            </dd>
            <dt>Delivery</dt>
            <dd>
              {s.delivery.maxAttempts} attempts, backoff {format.duration(s.delivery.backoff.initialMs)} ×
              {s.delivery.backoff.multiplier} up to {format.duration(s.delivery.backoff.maxMs)}, timeout{' '}
              {format.duration(s.delivery.timeoutMs)}, concurrency {s.delivery.concurrency}
              {s.delivery.ordered ? ', ordered' : ''}
            </dd>
          </dl>
          <div class="stats">
            <Stat label="Delivered" value={live === undefined ? '–' : format.rate(live.deliveredPerSec)} />
            <Stat label="Failed" value={live === undefined ? '–' : format.rate(live.failedPerSec)} />
            <Stat label="Error rate" value={live === undefined ? '–' : format.percent(live.errorRate)} />
            <Stat label="p50" value={format.duration(live?.latencyMs?.p50)} />
            <Stat label="p99" value={format.duration(live?.latencyMs?.p99)} />
            <Stat label="Backlog" value={format.count(live?.backlog ?? s.stats.backlog)} />
            <Stat label="In flight" value={format.count(live?.inFlight ?? s.stats.inFlight)} />
            <Stat label="Dead" value={format.count(live?.dead ?? s.stats.dead)} />
          </div>
        </>
      )}
      <h2>Last hour</h2>
      <ErrorNote message={history.error} />
      {history.data === undefined ? (
        <p class="muted">Loading…</p>
      ) : (
        <>
          <Charts history={history.data} />
          <h2>Attempts per delivery</h2>
          <AttemptsHistogram counts={history.data.attempts} />
          <h2>Recent failures</h2>
          {history.data.failures.length === 0 ? (
            <p class="muted">No failed attempt in the last hour.</p>
          ) : (
            <table class="data failures">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Event</th>
                  <th class="num">Attempt</th>
                  <th>Outcome</th>
                  <th class="num">HTTP</th>
                  <th>Then</th>
                  <th>Error</th>
                </tr>
              </thead>
              <tbody>
                {history.data.failures.map((f) => (
                  <tr key={`${f.eventId}-${f.attempt}-${f.at}`}>
                    <td>{format.time(f.at)}</td>
                    <td>
                      {s === undefined || f.eventId === null ? (
                        (f.eventId ?? '–')
                      ) : (
                        <a href={href('events', s.bus, f.eventId)}>{f.eventId}</a>
                      )}
                    </td>
                    <td class="num">{f.attempt}</td>
                    <td>
                      <span class={`badge outcome-${f.outcome}`}>{f.outcome.replace('_', ' ')}</span>
                    </td>
                    <td class="num">{f.httpStatus ?? ''}</td>
                    <td>{f.completion === 'dead' ? 'dead letter' : 'retry'}</td>
                    <td class="error-text">{f.error ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div class="stat">
      <div class="stat-value">{value}</div>
      <div class="stat-label">{label}</div>
    </div>
  );
}
