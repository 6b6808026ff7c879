/**
 * The Events page: search a bus's archive by type, source, time range and pattern; each result opens
 * the event's lineage. The live tail is the page's other tab (tail.tsx).
 */
import { useEffect, useState } from 'preact/hooks';
import type { ArchiveQuery, CloudEvent } from '../../../src/client/index.js';
import * as format from '../format.js';
import { href } from '../router.js';
import { useErrors, useLoad, useSession } from '../session.js';
import { ErrorNote } from '../components/error-note.js';

const PAGE = 50;

/** The Archive / Live tail tabs of the Events pages. */
export function EventTabs({ current }: { current: 'archive' | 'tail' }) {
  return (
    <nav class="tabs" aria-label="Events">
      <a href={href('events')} aria-current={current === 'archive' ? 'page' : undefined}>
        Archive
      </a>
      <a href={href('tail')} aria-current={current === 'tail' ? 'page' : undefined}>
        Live tail
      </a>
    </nav>
  );
}

/** The buses to choose from, and the chosen one (the first by default). */
export function useBusChoice(initial: string | null): {
  buses: readonly string[] | undefined;
  bus: string;
  setBus: (bus: string) => void;
  error: string | null;
} {
  const { api } = useSession();
  const list = useLoad(() => api.client.buses.list(), [api]);
  const buses = list.data?.buses.map((b) => b.name).sort();
  const [chosen, setBus] = useState<string | null>(initial);
  useEffect(() => setBus(initial), [initial]);
  return { buses, bus: chosen ?? buses?.[0] ?? '', setBus, error: list.error };
}

/** A table of events; each id opens its lineage. */
export function EventTable({ bus, events }: { bus: string; events: readonly CloudEvent[] }) {
  return (
    <table class="data events">
      <thead>
        <tr>
          <th>Time</th>
          <th>Id</th>
          <th>Type</th>
          <th>Source</th>
          <th>Subject</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={`${e.source}\n${e.id}`}>
            <td>{typeof e.time === 'string' ? format.time(Date.parse(e.time)) : ''}</td>
            <td>
              <a href={href('events', bus, e.id)}>{e.id}</a>
            </td>
            <td>{e.type}</td>
            <td>{e.source}</td>
            <td>{e.subject ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

interface Form {
  type: string;
  source: string;
  from: string;
  to: string;
  pattern: string;
}

function query(form: Form): ArchiveQuery {
  const q: ArchiveQuery = { limit: PAGE };
  if (form.type.trim() !== '') q.type = form.type.trim();
  if (form.source.trim() !== '') q.source = form.source.trim();
  const from = format.fromLocalInput(form.from);
  const to = format.fromLocalInput(form.to);
  if (from !== undefined) q.from = from;
  if (to !== undefined) q.to = to;
  const pattern = format.parsePattern(form.pattern);
  if (pattern !== undefined) q.pattern = pattern;
  return q;
}

export function EventsPage({ bus: initialBus }: { bus: string | null }) {
  const { api } = useSession();
  const { buses, bus, setBus, error: busError } = useBusChoice(initialBus);
  const [form, setForm] = useState<Form>(() => ({
    type: '',
    source: '',
    from: format.toLocalInput(Date.now() - 3_600_000),
    to: '',
    pattern: '',
  }));
  const [results, setResults] = useState<{ bus: string; events: CloudEvent[]; cursor: string | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const errors = useErrors();

  const search = (cursor?: string): void => {
    if (bus === '') return;
    let q: ArchiveQuery;
    try {
      q = query(form);
    } catch (err) {
      errors.report(err);
      return;
    }
    if (cursor !== undefined) q.cursor = cursor;
    setBusy(true);
    errors.clear();
    api.client.events
      .list(bus, q)
      .then((page) => {
        setResults((prev) => ({
          bus,
          events: cursor !== undefined && prev !== null ? [...prev.events, ...page.events] : page.events,
          cursor: page.cursor,
        }));
      }, errors.report)
      .finally(() => setBusy(false));
  };

  // Choosing a bus searches at once (its last hour by default); edits to the fields wait for the button.
  useEffect(() => {
    if (bus !== '') search();
  }, [bus]);

  const field = (name: keyof Form) => ({
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value }),
  });

  return (
    <section>
      <h1>Events</h1>
      <EventTabs current="archive" />
      <ErrorNote message={busError} />
      {buses !== undefined && buses.length === 0 ? <p class="empty">No buses yet.</p> : null}
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          search();
        }}
      >
        <label>
          Bus
          <select value={bus} onChange={(e) => setBus(e.currentTarget.value)} name="bus">
            {(buses ?? []).map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
        </label>
        <label>
          Type
          <input name="type" placeholder="order.placed" {...field('type')} />
        </label>
        <label>
          Source
          <input name="source" placeholder="/shop" {...field('source')} />
        </label>
        <label>
          From
          <input name="from" type="datetime-local" step={1} {...field('from')} />
        </label>
        <label>
          To
          <input name="to" type="datetime-local" step={1} {...field('to')} />
        </label>
        <label class="wide">
          Pattern
          <textarea
            name="pattern"
            rows={2}
            placeholder='{"data":{"total":[{"numeric":[">",100]}]}}'
            {...field('pattern')}
          />
        </label>
        <div class="form-actions">
          <button type="submit" disabled={busy || bus === ''}>
            Search
          </button>
        </div>
      </form>
      <ErrorNote message={errors.error} />
      {results === null ? null : results.events.length === 0 ? (
        <p class="empty">No archived event matches.</p>
      ) : (
        <>
          <p class="muted">
            {results.events.length} events of {results.bus}, oldest first
          </p>
          <EventTable bus={results.bus} events={results.events} />
          {results.cursor === null ? null : (
            <button type="button" class="secondary" disabled={busy} onClick={() => search(results.cursor!)}>
              More
            </button>
          )}
        </>
      )}
    </section>
  );
}
