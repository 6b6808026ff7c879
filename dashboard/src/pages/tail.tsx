/** The live tail: a bus's events as the server stores them, newest first, optionally by pattern. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { CloudEvent } from '../../../src/client/index.js';
import * as format from '../format.js';
import { useErrors, useSession } from '../session.js';
import { EventTable, EventTabs, useBusChoice } from './events.js';
import { ErrorNote } from '../components/error-note.js';

/** Events kept on screen; older ones drop off the bottom. */
const KEEP = 200;

export function TailPage() {
  const { api } = useSession();
  const { buses, bus, setBus, error: busError } = useBusChoice(null);
  const [patternText, setPatternText] = useState('');
  const [running, setRunning] = useState<{ bus: string; pattern: object | undefined } | null>(null);
  const [events, setEvents] = useState<CloudEvent[]>([]);
  // Whether the server has opened the stream: events stored from then on all arrive.
  const [open, setOpen] = useState(false);
  const errors = useErrors();
  const received = useRef(0);

  useEffect(() => {
    if (running === null) return undefined;
    const controller = new AbortController();
    setOpen(false);
    const tail = api.client.tail(running.bus, {
      pattern: running.pattern,
      signal: controller.signal,
      onOpen: () => setOpen(true),
    });
    void (async () => {
      try {
        for await (const event of tail) {
          received.current++;
          setEvents((prev) => [event, ...prev].slice(0, KEEP));
        }
      } catch (err) {
        if (!controller.signal.aborted) {
          errors.report(err);
          setRunning(null);
        }
      }
    })();
    return () => controller.abort();
  }, [api, running]);

  const start = (e: Event): void => {
    e.preventDefault();
    try {
      errors.clear();
      setEvents([]);
      received.current = 0;
      setRunning({ bus, pattern: format.parsePattern(patternText) });
    } catch (err) {
      errors.report(err);
    }
  };

  return (
    <section>
      <h1>Events</h1>
      <EventTabs current="tail" />
      <ErrorNote message={busError} />
      <form class="filters" onSubmit={start}>
        <label>
          Bus
          <select value={bus} name="bus" disabled={running !== null} onChange={(e) => setBus(e.currentTarget.value)}>
            {(buses ?? []).map((b) => (
              <option key={b} value={b}>
                {b}
              </option>
            ))}
          </select>
        </label>
        <label class="wide">
          Pattern
          <textarea
            name="pattern"
            rows={1}
            disabled={running !== null}
            placeholder='{"type":["order.placed"]}'
            value={patternText}
            onInput={(e) => setPatternText(e.currentTarget.value)}
          />
        </label>
        <div class="form-actions">
          {running === null ? (
            <button type="submit" disabled={bus === ''}>
              Start tail
            </button>
          ) : (
            <button type="button" onClick={() => setRunning(null)}>
              Stop
            </button>
          )}
        </div>
      </form>
      <ErrorNote message={errors.error} />
      {running === null ? null : (
        <p class="muted" aria-live="polite">
          <span class="dot live" aria-hidden="true" /> Tailing {running.bus}: {received.current} events so far
          {received.current > KEEP ? `, the last ${KEEP} shown` : ''}.
        </p>
      )}
      {events.length === 0 ? (
        running === null ? null : (
          <p class="empty">{open ? 'Waiting for events…' : 'Connecting…'}</p>
        )
      ) : (
        <EventTable bus={running?.bus ?? bus} events={events} />
      )}
    </section>
  );
}
