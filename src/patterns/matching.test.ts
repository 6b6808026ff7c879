import { describe, expect, it } from 'vitest';
import { matchesPattern, PatternIndex } from './index.js';

/** [pattern JSON, event JSON, expected]. Every case also runs through a PatternIndex. */
type Case = readonly [string, string, boolean];

const cases: Record<string, Case[]> = {
  'exact values': [
    ['{"source":["aws.ec2"]}', '{"source":"aws.ec2"}', true],
    ['{"source":["aws.ec2"]}', '{"source":"aws.EC2"}', false],
    ['{"source":["aws.ec2"]}', '{"source":"aws.ec2 "}', false],
    ['{"s":["é"]}', '{"s":"e\\u0301"}', false],
    ['{"s":["a\\"b"]}', '{"s":"a\\"b"}', true],
    ['{"s":["x"]}', '{"s":"\\u0078"}', true],
    ['{"n":[300]}', '{"n":300}', true],
    ['{"n":[300]}', '{"n":300.0}', true],
    ['{"n":[300]}', '{"n":3.0e2}', true],
    ['{"n":[300]}', '{"n":3E+2}', true],
    ['{"n":[0]}', '{"n":-0}', true],
    ['{"n":[0]}', '{"n":-0.0}', true],
    ['{"n":[123456789012345678901]}', '{"n":123456789012345678901}', true],
    ['{"n":[123456789012345678901]}', '{"n":123456789012345678900}', false],
    ['{"n":[9007199254740993]}', '{"n":9007199254740992}', false],
    ['{"n":[9007199254740993]}', '{"n":9007199254740993}', true],
    ['{"n":[1e400]}', '{"n":1e400}', true],
    ['{"n":[1e400]}', '{"n":1E400}', false],
    ['{"n":[0.30000000000000004]}', '{"n":0.3}', false],
    ['{"v":[null]}', '{"v":null}', true],
    ['{"v":[null]}', '{"v":"null"}', false],
    ['{"v":[null]}', '{}', false],
    ['{"v":[""]}', '{"v":""}', true],
    ['{"v":[""]}', '{"v":null}', false],
    ['{"v":[true]}', '{"v":true}', true],
    ['{"v":[true]}', '{"v":"true"}', false],
    ['{"v":[1]}', '{"v":true}', false],
    ['{"v":[false]}', '{"v":0}', false],
    ['{"v":["5"]}', '{"v":5}', false],
    ['{"v":[5]}', '{"v":"5"}', false],
    ['{"v":["a",1,null,true]}', '{"v":null}', true],
    ['{"v":["a",1,null,true]}', '{"v":1.0}', true],
    ['{"v":["a",1,null,true]}', '{"v":false}', false],
    ['{"v":["x"]}', '{"v":["a","x"]}', true],
    ['{"v":["x"]}', '{"v":[["a",["x"]]]}', true],
    ['{"v":["x"]}', '{"v":{"x":1}}', false],
    ['{"detail":{"state":["running"]}}', '{"detail":{"state":"running","other":1}}', true],
    ['{"detail":{"state":["running"]}}', '{"detail.state":"running"}', true],
    ['{"detail.state":["running"]}', '{"detail":{"state":"running"}}', true],
    ['{"":["x"]}', '{"":"x"}', true],
    ['{"a":{"":["x"]}}', '{"a":{"":"x"}}', false],
  ],
  'IP literals': [
    ['{"ip":["2001:db8::1"]}', '{"ip":"2001:DB8:0:0:0:0:0:1"}', true],
    ['{"ip":["::"]}', '{"ip":"0:0:0:0:0:0:0:0"}', true],
    ['{"ip":["10.0.0.1"]}', '{"ip":"10.0.0.1"}', true],
    ['{"ip":["10.0.0.1"]}', '{"ip":"10.0.0.2"}', false],
    ['{"ip":[{"exactly":"2001:db8::1"}]}', '{"ip":"2001:DB8:0:0:0:0:0:1"}', false],
    ['{"ip":[{"exactly":"2001:db8::1"}]}', '{"ip":"2001:db8::1"}', true],
  ],
  prefix: [
    ['{"s":[{"prefix":"ab"}]}', '{"s":"abc"}', true],
    ['{"s":[{"prefix":"ab"}]}', '{"s":"ab"}', true],
    ['{"s":[{"prefix":"ab"}]}', '{"s":"Abc"}', false],
    ['{"s":[{"prefix":""}]}', '{"s":""}', true],
    ['{"s":[{"prefix":""}]}', '{"s":5}', false],
    ['{"s":[{"prefix":"1"}]}', '{"s":12}', false],
    ['{"s":[{"prefix":"ab\\""}]}', '{"s":"ab"}', true],
    ['{"s":[{"prefix":"b"}]}', '{"s":["a","bc"]}', true],
    ['{"s":[{"prefix":{"equals-ignore-case":"AB"}}]}', '{"s":"abX"}', true],
    ['{"s":[{"prefix":{"equals-ignore-case":"AB"}}]}', '{"s":"aXb"}', false],
  ],
  suffix: [
    ['{"s":[{"suffix":".png"}]}', '{"s":"a.png"}', true],
    ['{"s":[{"suffix":".png"}]}', '{"s":"a.PNG"}', false],
    ['{"s":[{"suffix":""}]}', '{"s":"x"}', true],
    ['{"s":[{"suffix":"\\"b"}]}', '{"s":"b"}', true],
    ['{"s":[{"suffix":"é"}]}', '{"s":"café"}', true],
    ['{"s":[{"suffix":{"equals-ignore-case":".PNG"}}]}', '{"s":"a.png"}', true],
    ['{"s":[{"suffix":{"equals-ignore-case":".PNG"}}]}', '{"s":"a.pn"}', false],
  ],
  'equals-ignore-case': [
    ['{"s":[{"equals-ignore-case":"AbC"}]}', '{"s":"aBc"}', true],
    ['{"s":[{"equals-ignore-case":"AbC"}]}', '{"s":"aBcd"}', false],
    ['{"s":[{"equals-ignore-case":"Привет"}]}', '{"s":"пРИВЕТ"}', true],
    ['{"s":[{"equals-ignore-case":"Σ"}]}', '{"s":"σ"}', true],
    ['{"s":[{"equals-ignore-case":"Σ"}]}', '{"s":"ς"}', false],
    ['{"s":[{"equals-ignore-case":"straße"}]}', '{"s":"STRASSE"}', true],
    ['{"s":[{"equals-ignore-case":"straße"}]}', '{"s":"strasse"}', false],
    ['{"s":[{"equals-ignore-case":"\\u212a"}]}', '{"s":"k"}', true],
    ['{"s":[{"equals-ignore-case":"\\u212a"}]}', '{"s":"K"}', false],
    ['{"s":[{"equals-ignore-case":"k"}]}', '{"s":"\\u212a"}', false],
    ['{"s":[{"equals-ignore-case":"ǅ"}]}', '{"s":"ǅ"}', false],
    ['{"s":[{"equals-ignore-case":"ǅ"}]}', '{"s":"ǆ"}', true],
    ['{"s":[{"equals-ignore-case":"ı"}]}', '{"s":"I"}', true],
    ['{"s":[{"equals-ignore-case":"I"}]}', '{"s":"ı"}', false],
    ['{"s":[{"equals-ignore-case":""}]}', '{"s":""}', true],
    ['{"s":[{"equals-ignore-case":""}]}', '{"s":"a"}', false],
    ['{"s":[{"equals-ignore-case":"5"}]}', '{"s":5}', false],
  ],
  'anything-but': [
    ['{"s":[{"anything-but":"x"}]}', '{"s":"y"}', true],
    ['{"s":[{"anything-but":"x"}]}', '{"s":"x"}', false],
    ['{"s":[{"anything-but":"x"}]}', '{}', false],
    ['{"s":[{"anything-but":"x"}]}', '{"s":{"a":1}}', false],
    ['{"s":[{"anything-but":"x"}]}', '{"s":null}', true],
    ['{"s":[{"anything-but":"x"}]}', '{"s":5}', true],
    ['{"s":[{"anything-but":"initializing"}]}', '{"s":["initializing","running"]}', true],
    ['{"s":[{"anything-but":"x"}]}', '{"s":["x","x"]}', false],
    ['{"s":[{"anything-but":"x"}]}', '{"s":[]}', false],
    ['{"s":[{"anything-but":["a","b"]}]}', '{"s":"b"}', false],
    ['{"s":[{"anything-but":["a","b"]}]}', '{"s":"c"}', true],
    ['{"n":[{"anything-but":123}]}', '{"n":"123"}', true],
    ['{"n":[{"anything-but":123}]}', '{"n":123.0}', false],
    ['{"n":[{"anything-but":123}]}', '{"n":1.23e2}', false],
    ['{"n":[{"anything-but":[1,2]}]}', '{"n":2}', false],
    ['{"n":[{"anything-but":[1,2]}]}', '{"n":3}', true],
    ['{"n":[{"anything-but":9007199254740992}]}', '{"n":9007199254740993}', true],
    ['{"s":[{"anything-but":"a"},{"anything-but":"b"}]}', '{"s":"a"}', true],
    ['{"s":[{"anything-but":""}]}', '{"s":""}', false],
    ['{"s":[{"anything-but":""}]}', '{"s":"x"}', true],
    ['{"s":[{"anything-but":{"prefix":"in"}}]}', '{"s":"in"}', false],
    ['{"s":[{"anything-but":{"prefix":"in"}}]}', '{"s":"init"}', false],
    ['{"s":[{"anything-but":{"prefix":"in"}}]}', '{"s":"run"}', true],
    ['{"s":[{"anything-but":{"prefix":"in"}}]}', '{"s":5}', true],
    ['{"s":[{"anything-but":{"prefix":["a","b"]}}]}', '{"s":"bz"}', false],
    ['{"s":[{"anything-but":{"suffix":".tmp"}}]}', '{"s":"a.tmp"}', false],
    ['{"s":[{"anything-but":{"suffix":".tmp"}}]}', '{"s":"a.txt"}', true],
    ['{"s":[{"anything-but":{"equals-ignore-case":"X"}}]}', '{"s":"x"}', false],
    ['{"s":[{"anything-but":{"equals-ignore-case":["X","y"]}}]}', '{"s":"Y"}', false],
    ['{"s":[{"anything-but":{"equals-ignore-case":"X"}}]}', '{"s":"z"}', true],
    ['{"s":[{"anything-but":{"wildcard":"*.tmp"}}]}', '{"s":"a.tmp"}', false],
    ['{"s":[{"anything-but":{"wildcard":"*"}}]}', '{"s":5}', true],
    ['{"s":[{"anything-but":{"wildcard":"*"}}]}', '{"s":"x"}', false],
    ['{"s":[{"anything-but":"x"}]}', '{"s":true}', true],
  ],
  numeric: [
    ['{"n":[{"numeric":[">",0]}]}', '{"n":1}', true],
    ['{"n":[{"numeric":[">",0]}]}', '{"n":0}', false],
    ['{"n":[{"numeric":[">=",0]}]}', '{"n":-0}', true],
    ['{"n":[{"numeric":["<",0]}]}', '{"n":-1e-300}', true],
    ['{"n":[{"numeric":["=",300]}]}', '{"n":3e2}', true],
    ['{"n":[{"numeric":[">",0,"<=",5]}]}', '{"n":5}', true],
    ['{"n":[{"numeric":[">",0,"<",5]}]}', '{"n":5}', false],
    ['{"n":[{"numeric":[">",0]}]}', '{"n":"5"}', false],
    ['{"n":[{"numeric":[">",0]}]}', '{"n":null}', false],
    ['{"n":[{"numeric":[">",0]}]}', '{"n":9007199254740993}', false],
    ['{"n":[{"numeric":[">",0]}]}', '{"n":1.00000000000000000001}', false],
    ['{"n":[{"numeric":[">",0]}]}', '{"n":0.99999999999999999}', false],
    ['{"n":[{"numeric":[">",0]}]}', '{"n":1e309}', false],
    ['{"n":[{"numeric":[">",5e9]}]}', '{"n":6000000000}', true],
    ['{"n":[{"numeric":["<",1e-7]}]}', '{"n":1e-8}', true],
    ['{"n":[{"numeric":["<",-1e300]}]}', '{"n":-1e301}', true],
    ['{"n":[{"numeric":["=",0.3]}]}', '{"n":0.30000000000000004}', false],
    ['{"n":[{"numeric":["<=",1.7976931348623157e308]}]}', '{"n":1e308}', true],
    ['{"n":[{"numeric":[">",10]}]}', '{"n":[1,20]}', true],
    ['{"n":[{"numeric":[">",10]}]}', '{"n":[1,2]}', false],
  ],
  exists: [
    ['{"v":[{"exists":true}]}', '{"v":null}', true],
    ['{"v":[{"exists":true}]}', '{"v":""}', true],
    ['{"v":[{"exists":true}]}', '{"v":false}', true],
    ['{"v":[{"exists":true}]}', '{"v":[]}', false],
    ['{"v":[{"exists":true}]}', '{"v":[[]]}', false],
    ['{"v":[{"exists":true}]}', '{"v":{}}', false],
    ['{"v":[{"exists":true}]}', '{"v":{"a":1}}', false],
    ['{"v":[{"exists":true}]}', '{"v":[1]}', true],
    ['{"v":[{"exists":false}]}', '{}', true],
    ['{"v":[{"exists":false}]}', '{"v":[]}', true],
    ['{"v":[{"exists":false}]}', '{"v":{}}', true],
    ['{"v":[{"exists":false}]}', '{"v":{"a":1}}', true],
    ['{"v":[{"exists":false}]}', '{"v":null}', false],
    ['{"v":[{"exists":false}]}', '{"v":""}', false],
    ['{"a":{"b":[{"exists":false}]}}', '{"a":[{"c":1},{"b":2}]}', false],
    ['{"a":{"b":[{"exists":false}]}}', '{"a":[{"c":1},{"c":2}]}', true],
    ['{"v":[{"exists":false},"x"]}', '{"v":"x"}', true],
    ['{"v":[{"exists":false},"x"]}', '{}', true],
    ['{"v":[{"exists":false},"x"]}', '{"v":"y"}', false],
    ['{"v":[{"exists":true},{"exists":false}]}', '{}', true],
    ['{"v":[{"exists":true},{"exists":false}]}', '{"v":1}', true],
    ['{"a":{"b":[{"exists":false}],"c":[2]}}', '{"a":[{"b":1},{"c":2}]}', false],
    ['{"a":{"c":[{"exists":false}],"b":[1]}}', '{"a":[{"b":1},{"c":2}]}', true],
  ],
  cidr: [
    ['{"ip":[{"cidr":"10.0.0.0/24"}]}', '{"ip":"10.0.0.255"}', true],
    ['{"ip":[{"cidr":"10.0.0.0/24"}]}', '{"ip":"10.0.1.0"}', false],
    ['{"ip":[{"cidr":"10.0.0.77/24"}]}', '{"ip":"10.0.0.1"}', true],
    ['{"ip":[{"cidr":"0.0.0.0/0"}]}', '{"ip":"255.255.255.255"}', true],
    ['{"ip":[{"cidr":"2001:db8::/32"}]}', '{"ip":"2001:DB8:ffff::1"}', true],
    ['{"ip":[{"cidr":"2001:db8::/32"}]}', '{"ip":"2001:db9::1"}', false],
    ['{"ip":[{"cidr":"2001:db8::/32"}]}', '{"ip":"10.0.0.1"}', false],
    ['{"ip":[{"cidr":"10.0.0.0/8"}]}', '{"ip":"a00::1"}', true],
    ['{"ip":[{"cidr":"10.0.0.0/8"}]}', '{"ip":"not an ip"}', false],
    ['{"ip":[{"cidr":"10.0.0.0/8"}]}', '{"ip":" 10.0.0.1"}', false],
    ['{"ip":[{"cidr":"10.0.0.0/8"}]}', '{"ip":167772161}', false],
  ],
  wildcard: [
    ['{"s":[{"wildcard":"*.png"}]}', '{"s":"dir/a.png"}', true],
    ['{"s":[{"wildcard":"a*b*c"}]}', '{"s":"abc"}', true],
    ['{"s":[{"wildcard":"a*b*c"}]}', '{"s":"aXbYc"}', true],
    ['{"s":[{"wildcard":"a*b*c"}]}', '{"s":"aXcYb"}', false],
    ['{"s":[{"wildcard":"*"}]}', '{"s":""}', true],
    ['{"s":[{"wildcard":"*"}]}', '{"s":5}', false],
    ['{"s":[{"wildcard":"*"}]}', '{"s":null}', false],
    ['{"s":[{"wildcard":"a?c"}]}', '{"s":"abc"}', false],
    ['{"s":[{"wildcard":"a?c"}]}', '{"s":"a?c"}', true],
    ['{"s":[{"wildcard":"a\\\\*b"}]}', '{"s":"a*b"}', true],
    ['{"s":[{"wildcard":"a\\\\*b"}]}', '{"s":"axb"}', false],
    ['{"s":[{"wildcard":"a\\\\\\\\b"}]}', '{"s":"a\\\\b"}', true],
    ['{"s":[{"wildcard":"a\\\\**"}]}', '{"s":"a*xyz"}', true],
    ['{"s":[{"wildcard":"abc"}]}', '{"s":"abc"}', true],
    ['{"s":[{"wildcard":"*ab*ab"}]}', '{"s":"xabyab"}', true],
    ['{"s":[{"wildcard":"*aa"}]}', '{"s":"aa"}', true],
    ['{"s":[{"wildcard":"a*a"}]}', '{"s":"a"}', false],
  ],
  $or: [
    ['{"$or":[{"a":["1"]},{"b":["2"]}]}', '{"b":"2"}', true],
    ['{"$or":[{"a":["1"]},{"b":["2"]}]}', '{"c":"2"}', false],
    ['{"x":["1"],"$or":[{"a":["1"]},{"b":["2"]}]}', '{"b":"2"}', false],
    ['{"x":["1"],"$or":[{"a":["1"]},{"b":["2"]}]}', '{"x":"1","b":"2"}', true],
    ['{"$or":[{"a":["1"]},{"b":["2"]}],"x":["1"]}', '{"x":"1","a":"1"}', true],
    ['{"detail":{"$or":[{"a":["1"]},{"b":["2"]}]}}', '{"detail":{"b":"2"}}', true],
    ['{"detail":{"$or":[{"a":["1"]},{"b":["2"]}]}}', '{"b":"2"}', false],
    ['{"$or":[{"a":["1"]},{"$or":[{"b":["2"]},{"c":["3"]}]}]}', '{"c":"3"}', true],
    ['{"a":["1"],"$or":[{"a":["2"]},{"b":["3"]}]}', '{"a":"2"}', true],
    ['{"$or":{"a":["1"]}}', '{"$or":{"a":"1"}}', true],
    ['{"$or":["a","b"]}', '{"$or":"b"}', true],
    ['{"$or":[{"prefix":"a"},{"suffix":"z"}]}', '{"$or":"xyz"}', true],
    ['{"$or":[{"prefix":"a"},{"suffix":"z"}]}', '{"$or":"xy"}', false],
    ['{"a":{"$or":[{"b":[1]},{"c":[2]}],"d":[3]}}', '{"a":[{"b":1},{"d":3}]}', false],
    ['{"a":{"$or":[{"b":[1]},{"c":[2]}],"d":[3]}}', '{"a":[{"b":1,"d":3}]}', true],
  ],
  'array consistency': [
    [
      '{"employees":{"firstName":["Anna"],"lastName":["Jones"]}}',
      '{"employees":[{"firstName":"Anna","lastName":"Smith"},{"firstName":"Peter","lastName":"Jones"}]}',
      false,
    ],
    [
      '{"employees":{"firstName":["Anna"],"lastName":["Jones"]}}',
      '{"employees":[{"firstName":"Anna","lastName":"Smith"},{"firstName":"Anna","lastName":"Jones"}]}',
      true,
    ],
    ['{"a":{"b":[1],"c":[2]}}', '{"a":[[{"b":1}],[{"c":2}]]}', false],
    ['{"a":{"b":[1],"c":[2]}}', '{"a":[[{"b":1,"c":2}]]}', true],
    ['{"a":{"b":{"c":[1]},"d":[2]}}', '{"a":[{"b":[{"c":1}],"d":2},{"d":3}]}', true],
    ['{"a":{"b":{"c":[1]},"d":[3]}}', '{"a":[{"b":[{"c":1}],"d":2},{"d":3}]}', false],
    ['{"a":{"b":["x"]},"c":["y"]}', '{"a":[{"b":"x"}],"c":["y"]}', true],
    ['{"a":{"b":["x"],"c":["y"]}}', '{"a":[{"b":["q","x"],"c":["y"]}]}', true],
  ],
  'duplicate keys in events': [
    ['{"a":["1"]}', '{"a":"1","a":"2"}', true],
    ['{"a":["2"]}', '{"a":"1","a":"2"}', true],
    ['{"a":[{"anything-but":"1"}]}', '{"a":"1","a":"1"}', false],
  ],
};

describe.each(Object.entries(cases))('%s', (_name, list) => {
  it.each(list)('%s vs %s → %s', (pattern, event, expected) => {
    expect(matchesPattern(pattern, event)).toBe(expected);
    const index = new PatternIndex();
    index.add('r', pattern);
    index.add('noise', '{"unrelated":["x"]}');
    expect(index.match(event)).toEqual(expected ? ['r'] : []);
  });
});

describe('event inputs', () => {
  it('accepts parsed objects as well as text', () => {
    expect(matchesPattern({ n: [300] }, { n: 300 })).toBe(true);
    expect(matchesPattern({ a: { b: ['x'] } }, { a: [{ b: 'x' }] })).toBe(true);
    expect(matchesPattern({ v: [null] }, { v: null })).toBe(true);
    expect(matchesPattern({ v: [{ exists: false }] }, { v: undefined })).toBe(true);
  });

  it('rejects events that are not JSON objects', () => {
    expect(() => matchesPattern('{"a":["x"]}', '[1]')).toThrow(/Event must be a JSON object/);
    expect(() => matchesPattern('{"a":["x"]}', '"x"')).toThrow(/Event must be a JSON object/);
    expect(() => matchesPattern('{"a":["x"]}', '')).toThrow(/empty/);
    expect(() => matchesPattern('{"a":["x"]}', '{"a": "x"')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"b": [1,]}')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"a":"x"} junk')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"b": 01}')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"b": "\t"}')).toThrow(/not valid JSON/);
  });

  it('validates parts of the event no rule looks at', () => {
    expect(() => matchesPattern('{"a":["x"]}', '{"a":"x","b":{"c":[tru]}}')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"b":"\\x","a":"x"}')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"b":"\u0001","a":"x"}')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"b":["x" "y"],"a":"x"}')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"b":{"k" 1},"a":"x"}')).toThrow(/not valid JSON/);
    expect(() => matchesPattern('{"a":["x"]}', '{"b":{"k":1,},"a":"x"}')).toThrow(/not valid JSON/);
    expect(
      matchesPattern('{"a":["x"]}', String.raw`{"b":"q\"\\\u00e9","c":[{},[],{"d":[1,{"e":null}]}],"a":"x"}`),
    ).toBe(true);
    expect(matchesPattern('{"a":["x\\"y"]}', '{"b":"\\"","a":"x\\"y"}')).toBe(true);
  });
});
