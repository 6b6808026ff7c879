/**
 * Hash routing: `#/flow`, `#/subscriptions/:name`, `#/events[/:bus]`, `#/events/:bus/:id`, `#/tail`,
 * `#/dead-letters[/:subscription]`, `#/replays`. The hash keeps every page a link that the server
 * never has to know about.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'flow' }
  | { page: 'subscription'; name: string }
  | { page: 'events'; bus: string | null }
  | { page: 'event'; bus: string; id: string }
  | { page: 'tail' }
  | { page: 'dead-letters'; subscription: string | null }
  | { page: 'replays' }
  | { page: 'not-found'; path: string };

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The route of a location hash such as `#/subscriptions/inventory`. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const [head = '', ...rest] = path.split('/').map(decode);
  if (head === '' || head === 'flow') return { page: 'flow' };
  if (head === 'subscriptions' && rest.length === 1 && rest[0] !== '') return { page: 'subscription', name: rest[0]! };
  if (head === 'events' && rest.length <= 1) return { page: 'events', bus: rest[0] || null };
  if (head === 'events' && rest.length === 2) return { page: 'event', bus: rest[0]!, id: rest[1]! };
  if (head === 'tail' && rest.length === 0) return { page: 'tail' };
  if (head === 'dead-letters' && rest.length <= 1) return { page: 'dead-letters', subscription: rest[0] || null };
  if (head === 'replays' && rest.length === 0) return { page: 'replays' };
  return { page: 'not-found', path };
}

/** The hash of a link to a page; each part is one encoded path segment. */
export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

/** The current route, following `hashchange`. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
