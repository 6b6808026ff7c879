import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BusError, ErrorCodes, describeValue, isBusError } from './errors.js';

interface DocRow {
  code: string;
  status: number;
  meaning: string;
}

/** Reads the `| code | HTTP status | meaning |` table of docs/errors.md. */
function readDocRows(): DocRow[] {
  const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows: DocRow[] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    const cells = line.trim().startsWith('|')
      ? line
          .trim()
          .slice(1, -1)
          .split('|')
          .map((cell) => cell.trim())
      : null;
    if (cells === null) {
      inTable = false;
      continue;
    }
    if (cells[0] === 'code') {
      inTable = true;
      continue;
    }
    if (!inTable || /^-+$/.test(cells[0] ?? '')) continue;
    rows.push({ code: (cells[0] ?? '').replaceAll('`', ''), status: Number(cells[1]), meaning: cells[2] ?? '' });
  }
  return rows;
}

describe('docs/errors.md', () => {
  const rows = readDocRows();

  it('lists exactly the codes in ErrorCodes, once each', () => {
    const documented = rows.map((row) => row.code);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual(Object.keys(ErrorCodes).sort());
  });

  it('gives each code the HTTP status and meaning of ErrorCodes', () => {
    const fromDocs = Object.fromEntries(
      rows.map((row) => [row.code, { status: row.status, description: row.meaning }]),
    );
    expect(fromDocs).toEqual(ErrorCodes);
  });
});

describe('BusError', () => {
  it('takes the status of its code unless given one', () => {
    expect(new BusError('EVENT_TOO_LARGE', 'too big').status).toBe(413);
    expect(new BusError('INVALID_EVENT', 'bad', { status: 422 }).status).toBe(422);
  });

  it('keeps its cause and serialises to { code, message, details }', () => {
    const cause = new Error('root');
    const err = new BusError('INVALID_JSON', 'Unexpected token', { cause, details: { line: 3 } });
    expect(err.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'INVALID_JSON',
      message: 'Unexpected token',
      details: { line: 3 },
    });
    expect(isBusError(err, 'INVALID_JSON')).toBe(true);
    expect(isBusError(err, 'INVALID_EVENT')).toBe(false);
    expect(isBusError(cause)).toBe(false);
  });
});

describe('describeValue', () => {
  it.each([
    [42, '42 (number)'],
    ['x', '"x" (string)'],
    [null, 'null'],
    [undefined, 'undefined'],
    [[1], 'an array'],
    [{}, 'an object'],
    [true, 'true (boolean)'],
  ])('describes %o as %s', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });
});
