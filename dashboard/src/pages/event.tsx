/**
 * One event's lineage: the event, the subscriptions that match it now, and each delivery it caused
 * with a timeline of every attempt. The answer to "why didn't my event arrive?".
 */
import type { DeliveryTrace, EventLineage } from '../../../src/client/index.js';
import { AttemptTimeline } from '../components/attempts.js';
import * as format from '../format.js';
import { href } from '../router.js';
import { useLoad, useSession } from '../session.js';
import { ErrorNote } from '../components/error-note.js';

function Delivery({ delivery, publishedAt }: { delivery: DeliveryTrace; publishedAt: number }) {
  return (
    <article class="delivery" data-subscription={delivery.subscription} data-state={delivery.state}>
      <h3>
        <a href={href('subscriptions', delivery.subscription)}>{delivery.subscription}</a>{' '}
        <span class={`badge state-${delivery.state}`}>{delivery.state}</span>
        {delivery.deadReason === null ? null : <span class="muted"> ({delivery.deadReason.replace('_', ' ')})</span>}
      </h3>
      <p class="muted">
        Delivery {delivery.deliveryId}, enqueued {format.time(delivery.enqueuedAt)}
        {delivery.replayId === null ? '' : `, replay ${delivery.replayId}`}
        {delivery.redriveOf === null ? '' : `, redrive of delivery ${delivery.redriveOf}`}
        {delivery.state === 'pending' ? `, next attempt ${format.time(delivery.availableAt)}` : ''}
      </p>
      <AttemptTimeline attempts={delivery.attempts} origin={publishedAt} />
    </article>
  );
}

function Lineage({ bus, lineage }: { bus: string; lineage: EventLineage }) {
  const delivered = new Set(lineage.deliveries.map((d) => d.subscription));
  const unmatchedNow = lineage.matchesNow.filter((s) => !delivered.has(s));
  return (
    <div class="lineage">
      <p>
        Published to <a href={href('events', bus)}>{bus}</a> at {format.time(lineage.publishedAt)} by{' '}
        <code>{lineage.event.source}</code>.{' '}
        {lineage.matchesNow.length === 0
          ? 'No subscription matches it now.'
          : `Matches now: ${lineage.matchesNow.join(', ')}.`}
        {unmatchedNow.length > 0
          ? ` (${unmatchedNow.join(', ')} did not exist or did not match when it was published.)`
          : ''}
      </p>
      <h2>Deliveries</h2>
      {lineage.deliveries.length === 0 ? (
        <p class="empty">No delivery: no subscription matched the event when it was published.</p>
      ) : (
        lineage.deliveries.map((d) => <Delivery key={d.deliveryId} delivery={d} publishedAt={lineage.publishedAt} />)
      )}
      <h2>Event</h2>
      <pre>{format.pretty(lineage.event)}</pre>
    </div>
  );
}

export function EventPage({ bus, id }: { bus: string; id: string }) {
  const { api } = useSession();
  const { data, error } = useLoad(() => api.client.events.get(bus, id), [api, bus, id], 5_000);
  return (
    <section>
      <p class="crumbs">
        <a href={href('events', bus)}>Events</a> / {bus}
      </p>
      <h1>
        Event <code>{id}</code>
      </h1>
      <ErrorNote message={error} />
      {data === undefined ? (
        error === null ? (
          <p class="muted">Loading…</p>
        ) : null
      ) : (
        data.map((lineage, i) => (
          <div key={i}>
            {data.length > 1 ? <h2>From {lineage.event.source}</h2> : null}
            <Lineage bus={bus} lineage={lineage} />
          </div>
        ))
      )}
    </section>
  );
}
