/**
 * A replay's ownership and progress: which process runs it (under a lease), and each step's deliveries
 * stored together with the cursor that says they were made, so a crash neither loses nor repeats a page.
 */
import type Database from 'better-sqlite3';
import type { NewDelivery, ReplayRecord, ReplayStep } from '../driver.js';
import { toReplayRecord, type ReplayRow } from '../rows.js';

/** Prepares `acquireReplay`, `advanceReplay` and `cancelReplay`; `enqueue` creates a step's deliveries. */
export function prepareReplays(
  db: Database.Database,
  enqueue: (deliveries: readonly NewDelivery[], now: number) => number,
) {
  const acquire = db.prepare<[{ id: string; owner: string; until: number; now: number }], ReplayRow>(
    `UPDATE replays SET owner = @owner, lease_until = @until, updated_at = @now
     WHERE id = @id AND state = 'running'
       AND (owner IS NULL OR owner = @owner OR lease_until IS NULL OR lease_until <= @now)
     RETURNING *`,
  );
  const owned = db
    .prepare<[string, string], number>(`SELECT 1 FROM replays WHERE id = ? AND state = 'running' AND owner = ?`)
    .pluck();
  const progress = db.prepare<
    [
      {
        id: string;
        cursor: number;
        scanned: number;
        added: number;
        state: string;
        error: string | null;
        until: number;
        now: number;
      },
    ],
    ReplayRow
  >(
    `UPDATE replays SET cursor = @cursor, scanned = @scanned, enqueued = enqueued + @added, state = @state,
       error = @error, lease_until = @until, updated_at = @now
     WHERE id = @id
     RETURNING *`,
  );
  const cancel = db.prepare<[number, string]>(
    `UPDATE replays SET state = 'cancelled', updated_at = ? WHERE id = ? AND state = 'running'`,
  );

  const advance = db.transaction((id: string, owner: string, step: ReplayStep, now: number): ReplayRecord | null => {
    if (owned.get(id, owner) === undefined) return null;
    const added = enqueue(step.deliveries, now);
    const row = progress.get({
      id,
      cursor: step.cursor,
      scanned: step.scanned,
      added,
      state: step.state,
      error: step.error,
      until: step.leaseUntil,
      now,
    });
    return row === undefined ? null : toReplayRecord(row);
  });

  return {
    acquire: (id: string, owner: string, until: number, now: number): ReplayRecord | null => {
      const row = acquire.get({ id, owner, until, now });
      return row === undefined ? null : toReplayRecord(row);
    },
    advance: (id: string, owner: string, step: ReplayStep, now: number) => advance.immediate(id, owner, step, now),
    cancel: (id: string, now: number) => cancel.run(now, id).changes > 0,
  };
}
