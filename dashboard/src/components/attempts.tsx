/** Attempts of deliveries: a timeline of each try, and a histogram of how many tries deliveries took. */
import type { AttemptRecord } from '../../../src/client/index.js';
import * as format from '../format.js';

/**
 * Every attempt of one delivery, in order, placed in time relative to `origin` (the event's publish
 * or the delivery's enqueue time), with its outcome, duration, HTTP status and error.
 */
export function AttemptTimeline({ attempts, origin }: { attempts: readonly AttemptRecord[]; origin: number }) {
  if (attempts.length === 0) return <p class="muted">No attempt yet.</p>;
  return (
    <ol class="timeline">
      {attempts.map((a) => (
        <li key={a.attempt} class={`outcome-${a.outcome}`} data-outcome={a.outcome}>
          <span class="dot" aria-hidden="true" />
          <div>
            <strong>Attempt {a.attempt}</strong>{' '}
            <span class={`badge outcome-${a.outcome}`}>{a.outcome.replace('_', ' ')}</span>
            <span class="muted">
              {' '}
              at {format.time(a.startedAt)} (+{format.duration(Math.max(0, a.startedAt - origin))}), took{' '}
              {format.duration(a.durationMs)}
              {a.httpStatus === null ? '' : `, HTTP ${a.httpStatus}`}
            </span>
            {a.error === null ? null : (
              <div class="error-text">
                {a.error.name !== null && a.error.name !== 'Error' ? `${a.error.name}: ` : ''}
                {a.error.message}
                {a.error.code === null ? '' : ` (${a.error.code})`}
              </div>
            )}
            {a.responseBody === null ? null : <pre class="small">{a.responseBody}</pre>}
          </div>
        </li>
      ))}
    </ol>
  );
}

/** Bars of how many deliveries ended after 1, 2, … attempts. */
export function AttemptsHistogram({ counts }: { counts: Readonly<Record<string, number>> }) {
  const entries = Object.entries(counts)
    .map(([attempts, n]) => [Number(attempts), n] as const)
    .filter(([attempts]) => Number.isFinite(attempts))
    .sort((a, b) => a[0] - b[0]);
  if (entries.length === 0) return <p class="muted">No delivery finished in the last hour.</p>;
  const max = Math.max(...entries.map(([, n]) => n), 1);
  return (
    <table class="histogram" aria-label="Deliveries by number of attempts">
      <tbody>
        {entries.map(([attempts, n]) => (
          <tr key={attempts}>
            <th scope="row">
              {attempts} {attempts === 1 ? 'attempt' : 'attempts'}
            </th>
            <td>
              <span class="bar" style={{ width: `${(n / max) * 100}%` }} />
            </td>
            <td class="num">{format.count(n)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
