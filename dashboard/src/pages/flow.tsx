/**
 * The Flow page: the live graph of sources → buses → subscriptions → targets, each edge with its
 * rate, each subscription with its latency, error rate and backlog (red when failing, grey when
 * paused), and the same numbers as a table. Fed by the app's flow stream, so it changes in place.
 */
import type { FlowSubscription } from '../api.js';
import * as format from '../format.js';
import { href } from '../router.js';
import { useFlow } from '../session.js';
import {
  COLUMNS,
  NODE_WIDTH,
  columnX,
  layoutFlow,
  type BusBox,
  type Edge,
  type GraphBox,
  type SourceBox,
  type SubscriptionBox,
  type TargetBox,
} from './flow-layout.js';

const HEADINGS = { sources: 'Sources', buses: 'Buses', subscriptions: 'Subscriptions', targets: 'Targets' };

/** Cuts long names to fit a box; the whole name is in the box's tooltip. */
function fit(text: string, chars = 24): string {
  return text.length <= chars ? text : `${text.slice(0, chars - 1)}…`;
}

function EdgeView({ edge }: { edge: Edge }) {
  const width =
    edge.perSec + edge.failedPerSec === 0 ? 1.5 : Math.min(8, 2 + Math.log10(1 + edge.perSec + edge.failedPerSec) * 2);
  const label =
    edge.failedPerSec > 0
      ? `${format.rate(edge.perSec)} · ${format.rate(edge.failedPerSec)} failed`
      : format.rate(edge.perSec);
  const moving = edge.perSec + edge.failedPerSec > 0;
  const labelWidth = label.length * 6.4 + 10;
  return (
    <g class={`edge tone-${edge.tone}${moving ? ' moving' : ''}`}>
      <path d={edge.d} stroke-width={width} />
      <rect x={edge.labelX - labelWidth / 2} y={edge.labelY - 9} width={labelWidth} height={18} rx={9} />
      <text x={edge.labelX} y={edge.labelY + 4} text-anchor="middle">
        {label}
      </text>
    </g>
  );
}

function SourceView({ box }: { box: SourceBox }) {
  return (
    <g class="node source" transform={`translate(${box.x},${box.y})`} data-source={box.source}>
      <title>{box.source}</title>
      <rect width={NODE_WIDTH} height={box.height} rx={6} />
      <text x={10} y={19} class="name">
        {fit(box.source)}
      </text>
      <text x={10} y={36} class="metric">
        {format.rate(box.perSec)} published
      </text>
    </g>
  );
}

function BusView({ box }: { box: BusBox }) {
  const { bus } = box;
  return (
    <a href={href('events', bus.name)} aria-label={`Events of bus ${bus.name}`}>
      <g class="node bus" transform={`translate(${box.x},${box.y})`} data-bus={bus.name}>
        <title>{`bus ${bus.name}`}</title>
        <rect width={NODE_WIDTH} height={box.height} rx={6} />
        <text x={10} y={19} class="name">
          {fit(bus.name)}
        </text>
        <text x={10} y={36} class="metric">
          <tspan data-metric="published">{format.rate(bus.publishedPerSec)}</tspan> in
          {bus.rejectedPerSec > 0 ? ` · ${format.rate(bus.rejectedPerSec)} rejected` : ''}
        </text>
      </g>
    </a>
  );
}

function statusLabel(sub: FlowSubscription): string {
  return sub.status === 'ok' ? '' : sub.status;
}

function SubscriptionView({ box }: { box: SubscriptionBox }) {
  const sub = box.subscription;
  const latency =
    sub.latencyMs === null
      ? 'no deliveries yet'
      : `p50 ${format.duration(sub.latencyMs.p50)} · p99 ${format.duration(sub.latencyMs.p99)}`;
  return (
    <a href={href('subscriptions', sub.name)} aria-label={`Subscription ${sub.name}, ${sub.status}`}>
      <g
        class={`node subscription status-${sub.status}`}
        transform={`translate(${box.x},${box.y})`}
        data-subscription={sub.name}
        data-status={sub.status}
      >
        <title>{`${sub.name}: ${sub.status}`}</title>
        <rect width={NODE_WIDTH} height={box.height} rx={6} />
        <text x={10} y={19} class="name">
          {fit(sub.name, 17)}
        </text>
        <text x={NODE_WIDTH - 10} y={19} class="status" text-anchor="end">
          {statusLabel(sub)}
        </text>
        <text x={10} y={38} class="metric" data-metric="latency">
          {latency}
        </text>
        <text x={10} y={55} class="metric" data-metric="errors">
          {`err ${format.percent(sub.errorRate)} · backlog ${format.count(sub.backlog)}`}
        </text>
        <text x={10} y={72} class="metric" data-metric="dead">
          {`in flight ${format.count(sub.inFlight)} · dead ${format.count(sub.dead)}`}
        </text>
      </g>
    </a>
  );
}

function TargetView({ box }: { box: TargetBox }) {
  return (
    <g class="node target" transform={`translate(${box.x},${box.y})`}>
      <title>{`${box.label} ${box.detail}`}</title>
      <rect width={NODE_WIDTH} height={box.height} rx={6} />
      <text x={10} y={19} class="name">
        {fit(box.label)}
      </text>
      <text x={10} y={36} class="metric">
        {fit(box.detail, 28)}
      </text>
    </g>
  );
}

function BoxView({ box }: { box: GraphBox }) {
  switch (box.kind) {
    case 'source':
      return <SourceView box={box} />;
    case 'bus':
      return <BusView box={box} />;
    case 'subscription':
      return <SubscriptionView box={box} />;
    case 'target':
      return <TargetView box={box} />;
  }
}

function SubscriptionTable({ subscriptions }: { subscriptions: readonly FlowSubscription[] }) {
  return (
    <table class="data">
      <thead>
        <tr>
          <th>Subscription</th>
          <th>Bus</th>
          <th>Status</th>
          <th class="num">Delivered</th>
          <th class="num">Failed</th>
          <th class="num">Errors</th>
          <th class="num">p50</th>
          <th class="num">p99</th>
          <th class="num">Backlog</th>
          <th class="num">Oldest pending</th>
          <th class="num">Dead</th>
        </tr>
      </thead>
      <tbody>
        {subscriptions.map((s) => (
          <tr key={s.name} class={`status-${s.status}`}>
            <td>
              <a href={href('subscriptions', s.name)}>{s.name}</a>
            </td>
            <td>{s.bus}</td>
            <td>
              <span class={`badge status-${s.status}`}>{s.status}</span>
            </td>
            <td class="num">{format.rate(s.deliveredPerSec)}</td>
            <td class="num">{format.rate(s.failedPerSec)}</td>
            <td class="num">{format.percent(s.errorRate)}</td>
            <td class="num">{format.duration(s.latencyMs?.p50)}</td>
            <td class="num">{format.duration(s.latencyMs?.p99)}</td>
            <td class="num">{format.count(s.backlog)}</td>
            <td class="num">{s.oldestPendingAgeMs > 0 ? format.duration(s.oldestPendingAgeMs) : '–'}</td>
            <td class="num">{s.dead > 0 ? <a href={href('dead-letters', s.name)}>{format.count(s.dead)}</a> : '0'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function FlowPage() {
  const { snapshot, error } = useFlow();
  if (snapshot === null) {
    return (
      <section>
        <h1>Flow</h1>
        <p class="muted">{error === null ? 'Connecting to the flow stream…' : `No flow yet: ${error}`}</p>
      </section>
    );
  }
  if (snapshot.buses.length === 0) {
    return (
      <section>
        <h1>Flow</h1>
        <p class="empty">
          No buses yet. Create one with <code>busbar buses put orders</code> or <code>PUT /v1/buses/orders</code>, then
          a subscription, and events will show here as they flow.
        </p>
      </section>
    );
  }
  const layout = layoutFlow(snapshot);
  const failing = snapshot.subscriptions.filter((s) => s.status === 'failing').length;
  return (
    <section>
      <h1>
        Flow{' '}
        <small class="muted">
          {snapshot.buses.length} buses · {snapshot.subscriptions.length} subscriptions
          {failing > 0 ? ` · ${failing} failing` : ''} · as of {format.time(snapshot.at)}
        </small>
      </h1>
      <div class="graph">
        <svg
          viewBox={`-4 0 ${layout.width + 8} ${layout.height}`}
          width={layout.width + 8}
          role="img"
          aria-label="Event flow from sources to buses, subscriptions and targets"
        >
          {COLUMNS.map((column, i) => (
            <text key={column} x={columnX(i) + 2} y={16} class="heading">
              {HEADINGS[column]}
            </text>
          ))}
          {layout.edges.map((edge) => (
            <EdgeView key={edge.key} edge={edge} />
          ))}
          {layout.boxes.map((box) => (
            <BoxView key={box.key} box={box} />
          ))}
        </svg>
      </div>
      <h2>Subscriptions</h2>
      {snapshot.subscriptions.length === 0 ? (
        <p class="empty">No subscriptions yet: events are archived, not delivered.</p>
      ) : (
        <SubscriptionTable
          subscriptions={layout.boxes.filter((b) => b.kind === 'subscription').map((b) => b.subscription)}
        />
      )}
    </section>
  );
}
