/**
 * Dead letters: pick a subscription, browse its dead letters (oldest first), open one to see the event
 * and every attempt, and redrive or delete them. A redrive first shows how many it would move (a dry
 * run) and runs only when confirmed; a purge asks first too.
 */
import { useState } from 'preact/hooks';
import type { DeadLetter } from '../../../src/client/index.js';
import { AttemptTimeline } from '../components/attempts.js';
import * as format from '../format.js';
import { href } from '../router.js';
import { useErrors, useFlow, useLoad, useSession } from '../session.js';
import { ErrorNote } from '../components/error-note.js';

const PAGE = 50;

function SubscriptionPicker() {
  const { snapshot } = useFlow();
  if (snapshot === null) return <p class="muted">Loading…</p>;
  const subs = [...snapshot.subscriptions].sort((a, b) => b.dead - a.dead || a.name.localeCompare(b.name));
  if (subs.length === 0) return <p class="empty">No subscriptions yet.</p>;
  return (
    <table class="data">
      <thead>
        <tr>
          <th>Subscription</th>
          <th>Bus</th>
          <th class="num">Dead letters</th>
        </tr>
      </thead>
      <tbody>
        {subs.map((s) => (
          <tr key={s.name}>
            <td>
              <a href={href('dead-letters', s.name)}>{s.name}</a>
            </td>
            <td>{s.bus}</td>
            <td class="num">{format.count(s.dead)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function lastError(letter: DeadLetter): string {
  const last = letter.attempts[letter.attempts.length - 1];
  return last?.error?.message ?? (last?.httpStatus != null ? `HTTP ${last.httpStatus}` : '');
}

type Pending =
  { kind: 'redrive'; count: number; ids?: number[]; pattern?: object } | { kind: 'purge'; count: number } | null;

function Letter({
  letter,
  busy,
  onRedrive,
  onDelete,
}: {
  letter: DeadLetter;
  busy: boolean;
  onRedrive: () => void;
  onDelete: () => void;
}) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <tr class="dead-letter" data-id={letter.id}>
        <td>
          <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
            {open ? '▾' : '▸'} {letter.id}
          </button>
        </td>
        <td>{format.time(letter.deadAt)}</td>
        <td>{letter.reason.replace('_', ' ')}</td>
        <td>{letter.event.type}</td>
        <td>{letter.event.id}</td>
        <td class="num">{letter.attempts.length}</td>
        <td class="error-text">{lastError(letter)}</td>
        <td class="row-actions">
          <button type="button" class="secondary small" disabled={busy} onClick={onRedrive}>
            Redrive
          </button>
          <button type="button" class="secondary small danger" disabled={busy} onClick={onDelete}>
            Delete
          </button>
        </td>
      </tr>
      {open ? (
        <tr class="details">
          <td colSpan={8}>
            <div class="split">
              <div>
                <h3>Attempts</h3>
                <AttemptTimeline attempts={letter.attempts} origin={letter.enqueuedAt} />
              </div>
              <div>
                <h3>Event</h3>
                <pre>{format.pretty(letter.event)}</pre>
              </div>
            </div>
          </td>
        </tr>
      ) : null}
    </>
  );
}

function DeadLetterList({ subscription }: { subscription: string }) {
  const { api } = useSession();
  const [pages, setPages] = useState(1);
  const list = useLoad(
    async () => {
      const letters: DeadLetter[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < pages; i++) {
        const page = await api.client.deadLetters.list(subscription, { limit: PAGE, cursor });
        letters.push(...page.deadLetters);
        if (page.cursor === null) return { letters, more: false };
        cursor = page.cursor;
      }
      return { letters, more: true };
    },
    [api, subscription, pages],
    5_000,
  );
  const action = useErrors();
  const [busy, setBusy] = useState(false);
  const [pending, setPending] = useState<Pending>(null);
  const [patternText, setPatternText] = useState('');
  const [done, setDone] = useState<string | null>(null);

  const run = (work: () => Promise<string | void>): void => {
    setBusy(true);
    action.clear();
    setDone(null);
    work()
      .then((message) => {
        if (typeof message === 'string') setDone(message);
        list.reload();
      }, action.report)
      .finally(() => setBusy(false));
  };

  const dryRun = (ids?: number[]): void =>
    run(async () => {
      const pattern = ids === undefined ? format.parsePattern(patternText) : undefined;
      const { count } = await api.client.deadLetters.redrive(subscription, { ids, pattern, dryRun: true });
      setPending({ kind: 'redrive', count, ids, pattern });
    });

  const confirm = (): void => {
    const p = pending;
    setPending(null);
    if (p === null) return;
    run(async () => {
      if (p.kind === 'purge') {
        const { deleted } = await api.client.deadLetters.purge(subscription);
        return `Deleted ${format.count(deleted)} dead letters.`;
      }
      const { count } = await api.client.deadLetters.redrive(subscription, { ids: p.ids, pattern: p.pattern });
      return `Redrove ${format.count(count)} dead letters: they are back in the queue.`;
    });
  };

  const letters = list.data?.letters;
  return (
    <>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          dryRun();
        }}
      >
        <label class="wide">
          Redrive only those matching (pattern, optional)
          <textarea
            name="pattern"
            rows={1}
            placeholder='{"data":{"country":["NL"]}}'
            value={patternText}
            onInput={(e) => setPatternText(e.currentTarget.value)}
          />
        </label>
        <div class="form-actions">
          <button type="submit" disabled={busy || pending !== null}>
            Redrive…
          </button>
          <button
            type="button"
            class="secondary danger"
            disabled={busy || pending !== null || letters === undefined || letters.length === 0}
            onClick={() =>
              run(async () => {
                const { count } = await api.client.deadLetters.redrive(subscription, { dryRun: true });
                setPending({ kind: 'purge', count });
              })
            }
          >
            Purge…
          </button>
        </div>
      </form>
      {pending === null ? null : (
        <div class={`confirm${pending.kind === 'purge' ? ' danger' : ''}`} role="alertdialog" aria-label="Confirm">
          <p data-dry-run-count={pending.count}>
            {pending.kind === 'redrive'
              ? `Dry run: ${format.count(pending.count)} dead ${pending.count === 1 ? 'letter' : 'letters'} would be redriven.`
              : `Purge deletes all ${format.count(pending.count)} dead letters of ${subscription}, events and attempts. This cannot be undone.`}
          </p>
          <button type="button" disabled={pending.count === 0} onClick={confirm}>
            {pending.kind === 'redrive'
              ? `Redrive ${format.count(pending.count)}`
              : `Delete ${format.count(pending.count)}`}
          </button>
          <button type="button" class="secondary" onClick={() => setPending(null)}>
            Cancel
          </button>
        </div>
      )}
      {done === null ? null : (
        <p class="notice" role="status">
          {done}
        </p>
      )}
      <ErrorNote message={action.error} />
      <ErrorNote message={list.error} />
      {letters === undefined ? (
        <p class="muted">Loading…</p>
      ) : letters.length === 0 ? (
        <p class="empty">No dead letters.</p>
      ) : (
        <>
          <table class="data dead-letters">
            <thead>
              <tr>
                <th>Id</th>
                <th>Died</th>
                <th>Reason</th>
                <th>Type</th>
                <th>Event</th>
                <th class="num">Attempts</th>
                <th>Last error</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {letters.map((letter) => (
                <Letter
                  key={letter.id}
                  letter={letter}
                  busy={busy || pending !== null}
                  onRedrive={() => dryRun([letter.id])}
                  onDelete={() =>
                    run(async () => {
                      await api.client.deadLetters.delete(subscription, letter.id);
                      return `Deleted dead letter ${letter.id}.`;
                    })
                  }
                />
              ))}
            </tbody>
          </table>
          {list.data?.more === true ? (
            <button type="button" class="secondary" onClick={() => setPages(pages + 1)}>
              More
            </button>
          ) : null}
        </>
      )}
    </>
  );
}

export function DeadLettersPage({ subscription }: { subscription: string | null }) {
  return (
    <section>
      <p class="crumbs">
        <a href={href('dead-letters')}>Dead letters</a>
        {subscription === null ? null : (
          <>
            {' / '}
            <a href={href('subscriptions', subscription)}>{subscription}</a>
          </>
        )}
      </p>
      <h1>{subscription === null ? 'Dead letters' : `Dead letters of ${subscription}`}</h1>
      {subscription === null ? (
        <SubscriptionPicker />
      ) : (
        <DeadLetterList key={subscription} subscription={subscription} />
      )}
    </section>
  );
}
