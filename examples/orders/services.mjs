/**
 * The orders demo's services. Each one knows only the bus: the order service publishes, the others
 * consume through their subscriptions. They share this process for convenience, nothing else.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { createClient } from 'busbar/client';

/** The order service: publishes `order.placed` at `rate` per second, then now and then `order.cancelled`. */
export function orderService({ url, rate, log }) {
  const client = createClient({ url });
  const placed = new Set();
  let n = 0;
  let stopped = false;
  const running = (async () => {
    const start = Date.now();
    while (!stopped) {
      const due = Math.floor(((Date.now() - start) / 1000) * rate);
      const batch = [];
      for (; n < due; n++) {
        const id = `ord-${String(n + 1).padStart(5, '0')}`;
        batch.push({
          source: '/demo/order-service',
          type: 'order.placed',
          subject: id,
          data: {
            orderId: id,
            customer: `customer-${(n * 7) % 50}`,
            total: Math.round(((n * 37) % 500) + 9.99),
            items: [{ sku: `sku-${n % 12}`, qty: 1 + (n % 3) }],
          },
        });
        if (n % 10 === 9) {
          batch.push({
            source: '/demo/order-service',
            type: 'order.cancelled',
            subject: id,
            data: { orderId: id, reason: 'customer request' },
          });
        }
      }
      if (batch.length > 0) {
        try {
          await client.publish('orders', batch);
          for (const e of batch) if (e.type === 'order.placed') placed.add(e.data.orderId);
        } catch (err) {
          log(`order-service: publish failed: ${err.message}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    placed,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

/** The inventory service: a pull consumer that reserves stock for each placed order. */
export function inventoryService({ url }) {
  const reserved = new Set();
  const consumer = createClient({ url }).consume(
    'inventory',
    (event) => {
      reserved.add(event.data.orderId);
    },
    { concurrency: 8 },
  );
  return { reserved, stop: () => consumer.stop() };
}

/**
 * The payment service: a webhook receiver. It verifies every delivery's Standard Webhooks signature
 * (HMAC-SHA256 of `id.timestamp.body` with the base64 part of the `whsec_` secret) and refuses the rest.
 */
export async function paymentService({ secret, log }) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const charged = new Set();
  let rejected = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = req.headers['webhook-id'];
      const timestamp = req.headers['webhook-timestamp'];
      const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
      const valid = String(req.headers['webhook-signature'] ?? '')
        .split(' ')
        .some((sig) => {
          const given = Buffer.from(sig.replace(/^v1,/, ''), 'base64');
          return given.length === expected.length && timingSafeEqual(given, expected);
        });
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
      if (!valid || !fresh) {
        rejected++;
        log(`payment: refused a delivery with a bad signature`);
        res.writeHead(401).end('bad signature');
        return;
      }
      // Binary mode: the CloudEvent's attributes are ce-* headers, the body is its data.
      const data = JSON.parse(body);
      charged.add(data.orderId);
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/payments`,
    charged,
    rejected: () => rejected,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * The notification service: a pull consumer that e-mails the customer. While `brokenFlag` (a file)
 * exists, the mail provider rejects the customers in `failRate` of the orders, every time: those
 * deliveries run out of attempts and become dead letters. Remove the file (the fix), then redrive.
 */
export function notificationService({ url, failRate, brokenFlag }) {
  const notified = new Set();
  const failures = { count: 0 };
  const consumer = createClient({ url }).consume(
    'notifications',
    (event) => {
      const orderId = event.data.orderId;
      // The same orders fail on every attempt, spread over the stream.
      const bucket = (Number(orderId.slice(-5)) * 7919) % 100;
      if (existsSync(brokenFlag) && bucket < failRate * 100) {
        failures.count++;
        throw new Error(`mail provider rejected ${event.data.customer}: mailbox unavailable`);
      }
      notified.add(orderId);
    },
    { concurrency: 4 },
  );
  return { notified, failures, stop: () => consumer.stop() };
}
