/**
 * Replays: start one (bus, time range, pattern, subscriptions), watch the progress of every replay,
 * cancel a running one. The list refreshes every second while a replay runs.
 */
import { useState } from 'preact/hooks';
import type { Replay, ReplayInput } from '../../../src/client/index.js';
import * as format from '../format.js';
import { useErrors, useFlow, useLoad, useSession } from '../session.js';
import { useBusChoice } from './events.js';
import { ErrorNote } from '../components/error-note.js';

function ReplayForm({ onStarted }: { onStarted: () => void }) {
  const { api } = useSession();
  const { snapshot } = useFlow();
  const { buses, bus, setBus } = useBusChoice(null);
  const [from, setFrom] = useState(() => format.toLocalInput(Date.now() - 3_600_000));
  const [to, setTo] = useState('');
  const [patternText, setPatternText] = useState('');
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set());
  const [skipDelivered, setSkipDelivered] = useState(false);
  const [ratePerSec, setRatePerSec] = useState('');
  const [busy, setBusy] = useState(false);
  const errors = useErrors();
  const subscriptions = (snapshot?.subscriptions ?? []).filter((s) => s.bus === bus).map((s) => s.name);

  const start = (e: Event): void => {
    e.preventDefault();
    errors.clear();
    let body: ReplayInput;
    try {
      const fromMs = format.fromLocalInput(from);
      if (fromMs === undefined) throw new Error('Expected a start time (From)');
      body = { bus, from: fromMs };
      const toMs = format.fromLocalInput(to);
      if (toMs !== undefined) body.to = toMs;
      const pattern = format.parsePattern(patternText);
      if (pattern !== undefined) body.pattern = pattern;
      const picked = subscriptions.filter((s) => chosen.has(s));
      if (picked.length > 0) body.subscriptions = picked;
      if (skipDelivered) body.skipDelivered = true;
      if (ratePerSec.trim() !== '') {
        const rate = Number(ratePerSec);
        if (!(rate > 0)) throw new Error(`Expected the rate to be a positive number, got "${ratePerSec}"`);
        body.ratePerSec = rate;
      }
    } catch (err) {
      errors.report(err);
      return;
    }
    setBusy(true);
    api.client.replays
      .start(body)
      .then(onStarted, errors.report)
      .finally(() => setBusy(false));
  };

  const toggle = (name: string): void => {
    const next = new Set(chosen);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    setChosen(next);
  };

  return (
    <form class="filters replay-form" onSubmit={start}>
      <label>
        Bus
        <select name="bus" value={bus} onChange={(e) => setBus(e.currentTarget.value)}>
          {(buses ?? []).map((b) => (
            <option key={b} value={b}>
              {b}
            </option>
          ))}
        </select>
      </label>
      <label>
        From
        <input
          name="from"
          type="datetime-local"
          step={1}
          value={from}
          onInput={(e) => setFrom(e.currentTarget.value)}
        />
      </label>
      <label>
        To (default now)
        <input name="to" type="datetime-local" step={1} value={to} onInput={(e) => setTo(e.currentTarget.value)} />
      </label>
      <label>
        Rate per second (optional)
        <input
          name="rate"
          inputMode="decimal"
          value={ratePerSec}
          onInput={(e) => setRatePerSec(e.currentTarget.value)}
        />
      </label>
      <label class="wide">
        Pattern (optional)
        <textarea
          name="pattern"
          rows={1}
          placeholder='{"type":["order.placed"]}'
          value={patternText}
          onInput={(e) => setPatternText(e.currentTarget.value)}
        />
      </label>
      <fieldset class="wide">
        <legend>Subscriptions (none chosen: every subscription of the bus that matches)</legend>
        {subscriptions.length === 0 ? <span class="muted">The bus has no subscriptions.</span> : null}
        {subscriptions.map((name) => (
          <label key={name} class="check">
            <input
              type="checkbox"
              name="subscription"
              value={name}
              checked={chosen.has(name)}
              onChange={() => toggle(name)}
            />{' '}
            {name}
          </label>
        ))}
      </fieldset>
      <label class="check wide">
        <input
          type="checkbox"
          name="skipDelivered"
          checked={skipDelivered}
          onChange={() => setSkipDelivered(!skipDelivered)}
        />{' '}
        Skip events a subscription has already been delivered
      </label>
      <div class="form-actions">
        <button type="submit" disabled={busy || bus === ''}>
          Start replay
        </button>
      </div>
      {errors.error === null ? null : (
        <p class="error wide" role="alert">
          {errors.error}
        </p>
      )}
    </form>
  );
}

function ReplayRow({ replay, onCancel, busy }: { replay: Replay; onCancel: () => void; busy: boolean }) {
  return (
    <tr data-replay={replay.id} data-state={replay.state}>
      <td>
        <code>{replay.id}</code>
      </td>
      <td>{replay.bus}</td>
      <td>
        {format.time(replay.from)} – {format.time(replay.to)}
        {replay.pattern === null ? null : (
          <div>
            <code>{replay.pattern}</code>
          </div>
        )}
      </td>
      <td>{replay.subscriptions === null ? 'all matching' : replay.subscriptions.join(', ')}</td>
      <td>
        <span class={`badge replay-${replay.state}`}>{replay.state}</span>
        {replay.state === 'running' ? <progress aria-label="running" /> : null}
        {replay.error === null ? null : <div class="error-text">{replay.error}</div>}
      </td>
      <td class="num">{format.count(replay.scanned)}</td>
      <td class="num">{format.count(replay.enqueued)}</td>
      <td>{format.time(replay.createdAt)}</td>
      <td>
        {replay.state === 'running' ? (
          <button type="button" class="secondary small danger" disabled={busy} onClick={onCancel}>
            Cancel
          </button>
        ) : null}
      </td>
    </tr>
  );
}

export function ReplaysPage() {
  const { api } = useSession();
  const [fast, setFast] = useState(false);
  const list = useLoad(
    async () => {
      const { replays } = await api.client.replays.list();
      setFast(replays.some((r) => r.state === 'running'));
      return [...replays].sort((a, b) => b.createdAt - a.createdAt);
    },
    [api],
    fast ? 1_000 : 5_000,
  );
  const action = useErrors();
  const [busy, setBusy] = useState(false);

  const cancel = (id: string): void => {
    setBusy(true);
    api.client.replays
      .cancel(id)
      .then(() => list.reload(), action.report)
      .finally(() => setBusy(false));
  };

  return (
    <section>
      <h1>Replays</h1>
      <p class="muted">
        A replay delivers archived events again, marked with a <code>replayid</code> extension, to the subscriptions
        chosen.
      </p>
      <ReplayForm
        onStarted={() => {
          setFast(true);
          list.reload();
        }}
      />
      <ErrorNote message={action.error} />
      <ErrorNote message={list.error} />
      {list.data === undefined ? (
        <p class="muted">Loading…</p>
      ) : list.data.length === 0 ? (
        <p class="empty">No replays yet.</p>
      ) : (
        <table class="data replays">
          <thead>
            <tr>
              <th>Id</th>
              <th>Bus</th>
              <th>Range</th>
              <th>Subscriptions</th>
              <th>State</th>
              <th class="num">Scanned</th>
              <th class="num">Enqueued</th>
              <th>Started</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((r) => (
              <ReplayRow key={r.id} replay={r} busy={busy} onCancel={() => cancel(r.id)} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
