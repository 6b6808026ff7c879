/**
 * The app: finds out whether the server wants an API key (`GET /v1/auth`), asks for one when it does
 * (kept in sessionStorage, so it ends with the tab), and then shows the pages the key's scopes allow,
 * with one flow stream shared by every page.
 */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { createApi, errorText, isUnauthorized, type Api, type AuthInfo } from './api.js';
import { DeadLettersPage } from './pages/dead-letters.js';
import { EventPage } from './pages/event.js';
import { EventsPage } from './pages/events.js';
import { FlowPage } from './pages/flow.js';
import { ReplaysPage } from './pages/replays.js';
import { SubscriptionPage } from './pages/subscription.js';
import { TailPage } from './pages/tail.js';
import { href, useRoute, type Route } from './router.js';
import { FlowContext, SessionContext, useSession, type FlowState, type Session } from './session.js';
import { ErrorNote } from './components/error-note.js';

const KEY_STORAGE = 'busbar.apiKey';

type Phase =
  | { readonly kind: 'checking' }
  | { readonly kind: 'prompt'; readonly message: string | null }
  | { readonly kind: 'unreachable'; readonly message: string }
  | { readonly kind: 'ready'; readonly api: Api; readonly info: AuthInfo; readonly key: string | undefined };

function storedKey(): string | undefined {
  try {
    return window.sessionStorage.getItem(KEY_STORAGE) ?? undefined;
  } catch {
    return undefined; // Storage disabled: the key is asked for on every load.
  }
}

function storeKey(key: string | undefined): void {
  try {
    if (key === undefined) window.sessionStorage.removeItem(KEY_STORAGE);
    else window.sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // Storage disabled: nothing to keep.
  }
}

export function App() {
  const [phase, setPhase] = useState<Phase>({ kind: 'checking' });

  /** Asks the server about `key` (none at first, unless this tab has one); a 401 asks for a key. */
  const connect = useCallback(async (key: string | undefined): Promise<void> => {
    const api = createApi(key);
    try {
      const info = await api.auth();
      storeKey(info.auth ? key : undefined);
      setPhase({ kind: 'ready', api, info, key });
    } catch (err) {
      if (!isUnauthorized(err)) return setPhase({ kind: 'unreachable', message: errorText(err) });
      storeKey(undefined);
      setPhase({ kind: 'prompt', message: key === undefined ? null : 'The server did not accept that key.' });
    }
  }, []);

  useEffect(() => void connect(storedKey()), [connect]);

  const signOut = useCallback((reason?: string) => {
    storeKey(undefined);
    setPhase({ kind: 'prompt', message: reason ?? null });
  }, []);

  switch (phase.kind) {
    case 'checking':
      return (
        <Frame>
          <p class="muted">Connecting…</p>
        </Frame>
      );
    case 'unreachable':
      return (
        <Frame>
          <div class="card">
            <h1>Busbar is not answering</h1>
            <p class="error" role="alert">
              {phase.message}
            </p>
            <button type="button" onClick={() => void connect(storedKey())}>
              Try again
            </button>
          </div>
        </Frame>
      );
    case 'prompt':
      return (
        <Frame>
          <KeyPrompt message={phase.message} onSubmit={connect} />
        </Frame>
      );
    case 'ready':
      return <Ready api={phase.api} info={phase.info} signOut={signOut} />;
  }
}

function Frame({ children }: { children: ComponentChildren }) {
  return (
    <>
      <header class="top">
        <span class="brand">Busbar</span>
      </header>
      <main>{children}</main>
    </>
  );
}

function KeyPrompt({ message, onSubmit }: { message: string | null; onSubmit: (key: string) => Promise<void> }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="card key-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        if (key.trim() === '') return;
        setBusy(true);
        void onSubmit(key.trim()).finally(() => setBusy(false));
      }}
    >
      <h1>API key</h1>
      <p>
        This server checks API keys. Enter one to continue; the dashboard keeps it for this tab only (session storage).
        Everything but publishing and consuming needs a key with the <code>admin</code> scope.
      </p>
      <ErrorNote message={message} />
      <label>
        API key
        <input
          name="apiKey"
          type="password"
          autocomplete="current-password"
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
      </label>
      <button type="submit" disabled={busy}>
        Continue
      </button>
    </form>
  );
}

/** The flow stream, shared by every page; reconnects with backoff while the page is open. */
function useFlowStream(api: Api, signOut: (reason?: string) => void): FlowState {
  const [state, setState] = useState<FlowState>({ snapshot: null, live: false, error: null });
  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    void (async () => {
      let delayMs = 500;
      while (!signal.aborted) {
        try {
          await api.flowStream(signal, (snapshot) => {
            delayMs = 500;
            setState({ snapshot, live: true, error: null });
          });
        } catch (err) {
          if (signal.aborted) return;
          if (isUnauthorized(err)) return signOut('The server no longer accepts the key.');
          setState((prev) => ({ ...prev, live: false, error: errorText(err) }));
        }
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 10_000);
      }
    })();
    return () => controller.abort();
  }, [api, signOut]);
  return state;
}

function Ready({ api, info, signOut }: { api: Api; info: AuthInfo; signOut: (reason?: string) => void }) {
  const session = useMemo<Session>(() => {
    const scopes = info.auth ? info.scopes : ['admin'];
    return { api, authOn: info.auth, scopes, admin: scopes.includes('admin'), signOut };
  }, [api, info, signOut]);
  return (
    <SessionContext.Provider value={session}>{session.admin ? <AdminShell /> : <NotAdmin />}</SessionContext.Provider>
  );
}

function KeyStatus() {
  const { authOn, scopes, signOut } = useSession();
  if (!authOn) return <span class="muted small">open server (no API keys)</span>;
  return (
    <span class="key-status">
      <span class="muted small">key: {scopes.join(', ')}</span>{' '}
      <button type="button" class="secondary small" onClick={() => signOut()}>
        Forget key
      </button>
    </span>
  );
}

function NotAdmin() {
  const { scopes, signOut } = useSession();
  return (
    <>
      <header class="top">
        <span class="brand">Busbar</span>
        <span class="spacer" />
        <KeyStatus />
      </header>
      <main>
        <div class="card" role="alert">
          <h1>This key cannot use the dashboard</h1>
          <p>
            Its scopes (<code>{scopes.join(', ')}</code>) allow publishing and consuming only. Every page of the
            dashboard (flow, events, dead letters, replays) needs a key with the <code>admin</code> scope.
          </p>
          <button type="button" onClick={() => signOut()}>
            Use another key
          </button>
        </div>
      </main>
    </>
  );
}

const NAV: ReadonlyArray<{ label: string; hash: string; pages: ReadonlyArray<Route['page']> }> = [
  { label: 'Flow', hash: href('flow'), pages: ['flow', 'subscription'] },
  { label: 'Events', hash: href('events'), pages: ['events', 'event', 'tail'] },
  { label: 'Dead letters', hash: href('dead-letters'), pages: ['dead-letters'] },
  { label: 'Replays', hash: href('replays'), pages: ['replays'] },
];

function AdminShell() {
  const { api, signOut } = useSession();
  const flow = useFlowStream(api, signOut);
  const route = useRoute();
  const failing = flow.snapshot?.subscriptions.filter((s) => s.status === 'failing').length ?? 0;
  return (
    <FlowContext.Provider value={flow}>
      <header class="top">
        <a class="brand" href={href('flow')}>
          Busbar
        </a>
        <nav aria-label="Pages">
          {NAV.map((item) => (
            <a key={item.label} href={item.hash} aria-current={item.pages.includes(route.page) ? 'page' : undefined}>
              {item.label}
              {item.label === 'Flow' && failing > 0 ? <span class="count failing">{failing}</span> : null}
            </a>
          ))}
        </nav>
        <span class="spacer" />
        <span class={`live-status${flow.live ? ' live' : ''}`} title={flow.error ?? undefined}>
          <span class="dot" aria-hidden="true" /> {flow.live ? 'live' : 'reconnecting…'}
        </span>
        <KeyStatus />
      </header>
      <main>
        <Page route={route} />
      </main>
    </FlowContext.Provider>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'flow':
      return <FlowPage />;
    case 'subscription':
      return <SubscriptionPage key={route.name} name={route.name} />;
    case 'events':
      return <EventsPage bus={route.bus} />;
    case 'event':
      return <EventPage bus={route.bus} id={route.id} />;
    case 'tail':
      return <TailPage />;
    case 'dead-letters':
      return <DeadLettersPage subscription={route.subscription} />;
    case 'replays':
      return <ReplaysPage />;
    case 'not-found':
      return (
        <section>
          <h1>No such page</h1>
          <p>
            Nothing lives at <code>#/{route.path}</code>. <a href={href('flow')}>Back to the flow</a>.
          </p>
        </section>
      );
  }
}
