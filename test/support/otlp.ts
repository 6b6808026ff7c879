/**
 * Reads an OTLP `ExportTraceServiceRequest` in protobuf, as a collector would, for tests: a generic
 * wire-format reader plus the field numbers of opentelemetry/proto (trace/v1/trace.proto,
 * common/v1/common.proto), written apart from src/server/otlp.ts so that it checks the encoder.
 */

type Field = { field: number; wire: number; value: bigint | Buffer };

/** The fields of one message, in order. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[at++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) {
      out.push({ field, wire, value: buf.readBigUInt64LE(at) });
      at += 8;
    } else if (wire === 2) {
      const length = Number(varint());
      if (at + length > buf.length) throw new Error('truncated message');
      out.push({ field, wire, value: buf.subarray(at, at + length) });
      at += length;
    } else if (wire === 5) {
      out.push({ field, wire, value: BigInt(buf.readUInt32LE(at)) });
      at += 4;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

const all = (fs: Field[], n: number) => fs.filter((f) => f.field === n);
const bytesOf = (fs: Field[], n: number) => all(fs, n)[0]?.value as Buffer | undefined;
const text = (fs: Field[], n: number) => bytesOf(fs, n)?.toString('utf8');
const int = (fs: Field[], n: number) => all(fs, n)[0]?.value as bigint | undefined;

export type AnyValue = string | boolean | number | null | AnyValue[];

function anyValue(buf: Buffer): AnyValue {
  const [f] = fields(buf);
  if (f === undefined) return null;
  switch (f.field) {
    case 1:
      return (f.value as Buffer).toString('utf8');
    case 2:
      return f.value === 1n;
    case 3:
      return Number(BigInt.asIntN(64, f.value as bigint));
    case 4: {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(f.value as bigint);
      return b.readDoubleLE();
    }
    case 5:
      return all(fields(f.value as Buffer), 1).map((v) => anyValue(v.value as Buffer));
    default:
      throw new Error(`unexpected AnyValue field ${f.field}`);
  }
}

function attributes(fs: Field[], n: number): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  for (const kv of all(fs, n)) {
    const parts = fields(kv.value as Buffer);
    out[text(parts, 1)!] = anyValue(bytesOf(parts, 2) ?? Buffer.alloc(0));
  }
  return out;
}

export interface DecodedSpan {
  scope: { name: string; version: string | undefined };
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  traceState: string | undefined;
  name: string;
  /** The protocol's kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, AnyValue>;
  events: Array<{ name: string; timeUnixNano: bigint; attributes: Record<string, AnyValue> }>;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, AnyValue> }>;
  status: { code: number; message: string | undefined } | undefined;
  flags: number;
}

export interface DecodedRequest {
  resource: Record<string, AnyValue>;
  spans: DecodedSpan[];
}

/** Every resource's attributes and spans of an `ExportTraceServiceRequest`. */
export function decodeTraceRequest(body: Buffer): DecodedRequest[] {
  return all(fields(body), 1).map((rs) => {
    const resourceSpans = fields(rs.value as Buffer);
    const resource = attributes(fields(bytesOf(resourceSpans, 1) ?? Buffer.alloc(0)), 1);
    const spans: DecodedSpan[] = [];
    for (const ss of all(resourceSpans, 2)) {
      const scopeSpans = fields(ss.value as Buffer);
      const scopeFields = fields(bytesOf(scopeSpans, 1) ?? Buffer.alloc(0));
      const scope = { name: text(scopeFields, 1) ?? '', version: text(scopeFields, 2) };
      for (const sp of all(scopeSpans, 2)) {
        const s = fields(sp.value as Buffer);
        const status = bytesOf(s, 15);
        const statusFields = status === undefined ? undefined : fields(status);
        spans.push({
          scope,
          traceId: bytesOf(s, 1)!.toString('hex'),
          spanId: bytesOf(s, 2)!.toString('hex'),
          traceState: text(s, 3),
          parentSpanId: bytesOf(s, 4)?.toString('hex'),
          name: text(s, 5)!,
          kind: Number(int(s, 6) ?? 0n),
          startTimeUnixNano: int(s, 7)!,
          endTimeUnixNano: int(s, 8)!,
          attributes: attributes(s, 9),
          events: all(s, 11).map((e) => {
            const ef = fields(e.value as Buffer);
            return { name: text(ef, 2)!, timeUnixNano: int(ef, 1)!, attributes: attributes(ef, 3) };
          }),
          links: all(s, 13).map((l) => {
            const lf = fields(l.value as Buffer);
            return {
              traceId: bytesOf(lf, 1)!.toString('hex'),
              spanId: bytesOf(lf, 2)!.toString('hex'),
              attributes: attributes(lf, 4),
            };
          }),
          status:
            statusFields === undefined
              ? undefined
              : { code: Number(int(statusFields, 3) ?? 0n), message: text(statusFields, 2) },
          flags: Number(int(s, 16) ?? 0n),
        });
      }
    }
    return { resource, spans };
  });
}
