/**
 * What every page needs from the app: the API for the current key, whether that key may administer,
 * the latest flow snapshot, and one way to report an error (a refused key sends the user back to the
 * key prompt).
 */
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { errorText, isUnauthorized, type Api, type FlowSnapshot } from './api.js';

export interface Session {
  readonly api: Api;
  /** The server checks API keys. */
  readonly authOn: boolean;
  /** The key's scopes; `['admin']` when the server checks no keys. */
  readonly scopes: readonly string[];
  /** `admin`: every page and action. Without it the dashboard shows only why not. */
  readonly admin: boolean;
  /** Forgets the key and asks for one again, with `reason` shown. */
  readonly signOut: (reason?: string) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession() outside <SessionContext.Provider>');
  return session;
}

/** The live flow: the latest snapshot, and whether the stream is connected right now. */
export interface FlowState {
  readonly snapshot: FlowSnapshot | null;
  readonly live: boolean;
  readonly error: string | null;
}

export const FlowContext = createContext<FlowState>({ snapshot: null, live: false, error: null });

export function useFlow(): FlowState {
  return useContext(FlowContext);
}

/**
 * `report(err)` for a page: a 401 signs out (the key was withdrawn); anything else becomes the
 * page's error message until cleared.
 */
export function useErrors(): { error: string | null; report: (err: unknown) => void; clear: () => void } {
  const { signOut } = useSession();
  const [error, setError] = useState<string | null>(null);
  const report = useCallback(
    (err: unknown) => {
      if (isUnauthorized(err)) signOut('The server no longer accepts the key.');
      else setError(errorText(err));
    },
    [signOut],
  );
  const clear = useCallback(() => setError(null), []);
  return { error, report, clear };
}

/**
 * Runs `load` now, whenever `deps` change, and every `everyMs` (when given) while mounted; the result
 * of a call that a newer one overtook is dropped.
 */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
  everyMs?: number,
): { data: T | undefined; error: string | null; reload: () => void } {
  const { report, error, clear } = useErrors();
  const [data, setData] = useState<T | undefined>(undefined);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => {
    const mine = ++generation.current;
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        clear();
        setData(value);
      },
      (err: unknown) => {
        if (mine === generation.current) report(err);
      },
    );
  }, [clear, report]);
  useEffect(() => {
    setData(undefined);
    reload();
    // A call still running for the old `deps` must not land after this.
    return () => void generation.current++;
  }, [...deps, reload]);
  useEffect(() => {
    if (everyMs === undefined) return undefined;
    const timer = setInterval(reload, everyMs);
    return () => clearInterval(timer);
  }, [everyMs, reload]);
  return { data, error, reload };
}
