import { describe, expect, it } from 'vitest';
import { inIpRange, ipToHex, parseCidr } from './ip.js';

describe('ipToHex', () => {
  it.each([
    ['10.0.0.1', '0A000001'],
    ['255.255.255.255', 'FFFFFFFF'],
    ['0.0.0.0', '00000000'],
    ['010.000.000.001', '0A000001'],
    ['0000000010.0.0.1', '0A000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['2001:db8::1', '20010DB8000000000000000000000001'],
    ['2001:DB8:0:0:0:0:0:1', '20010DB8000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['::ffff:a00:1', '0A000001'],
  ])('%s → %s', (text, hex) => {
    expect(ipToHex(text)).toBe(hex);
  });

  it.each([
    '',
    '1',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.4 ',
    'a.b.c.d',
    '::ffff:1.2.3.4',
    '1:2:3',
    '1::2::3',
    ':1',
    'fe80::1%eth0',
    '12345::',
    'x',
  ])('%s is not an address', (text) => {
    expect(ipToHex(text)).toBeUndefined();
  });
});

describe('parseCidr and inIpRange', () => {
  it('computes ranges with host bits cleared', () => {
    expect(parseCidr('10.0.0.77/24')).toEqual({ lo: '0A000000', hi: '0A0000FF' });
    expect(parseCidr('0.0.0.0/0')).toEqual({ lo: '00000000', hi: 'FFFFFFFF' });
    expect(parseCidr('2001:db8::/32')).toEqual({
      lo: '20010DB8000000000000000000000000',
      hi: '20010DB8FFFFFFFFFFFFFFFFFFFFFFFF',
    });
  });

  it('matches IPv4 ranges on the first 32 bits of IPv6 addresses, never IPv4 addresses against IPv6 ranges', () => {
    const v4 = parseCidr('10.0.0.0/8');
    expect(inIpRange(v4, ipToHex('a00::1')!)).toBe(true);
    expect(inIpRange(v4, ipToHex('10.255.0.1')!)).toBe(true);
    expect(inIpRange(v4, ipToHex('11.0.0.1')!)).toBe(false);
    expect(inIpRange(parseCidr('::/1'), ipToHex('10.0.0.1')!)).toBe(false);
  });
});
