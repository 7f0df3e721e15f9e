// String forms, vectors from appc/spec schema/types/{volume,mountpoint,port}_test.go.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppcError,
  parseMountPointString,
  parsePortString,
  parseVolumeString,
  volumeToString,
  type Volume,
} from '../../../src/appc/index.js';

describe('parseVolumeString', () => {
  const empty = { mode: '0755', uid: 0, gid: 0 };
  const cases: [string, Volume][] = [
    ['foobar,kind=host,source=/tmp', { name: 'foobar', kind: 'host', source: '/tmp' }],
    [
      'foobar,kind=host,source=/tmp,readOnly=false',
      { name: 'foobar', kind: 'host', source: '/tmp', readOnly: false },
    ],
    [
      'foobar,kind=host,source=/tmp,readOnly=true',
      { name: 'foobar', kind: 'host', source: '/tmp', readOnly: true },
    ],
    ['foobar,kind=empty', { name: 'foobar', kind: 'empty', ...empty }],
    ['foobar,kind=empty,readOnly=true', { name: 'foobar', kind: 'empty', readOnly: true, ...empty }],
    [
      'foobar,kind=empty,readOnly=true,mode=0777',
      { name: 'foobar', kind: 'empty', readOnly: true, mode: '0777', uid: 0, gid: 0 },
    ],
    [
      'foobar,kind=empty,mode=0777,uid=1000',
      { name: 'foobar', kind: 'empty', mode: '0777', uid: 1000, gid: 0 },
    ],
    [
      'foobar,kind=empty,mode=0777,uid=1000,gid=1000',
      { name: 'foobar', kind: 'empty', mode: '0777', uid: 1000, gid: 1000 },
    ],
    [
      'foobar,kind=host,source=/tmp,recursive=false',
      { name: 'foobar', kind: 'host', source: '/tmp', recursive: false },
    ],
    [
      'foobar,kind=host,source=/tmp,recursive=true',
      { name: 'foobar', kind: 'host', source: '/tmp', recursive: true },
    ],
  ];
  for (const [input, want] of cases) {
    it(`parses and prints ${input}`, () => {
      const v = parseVolumeString(input);
      assert.deepEqual(v, want);
      assert.equal(volumeToString(v), input);
    });
  }
  const bad = [
    '#foobar,kind=host,source=/tmp',
    'foobar,kind=host,source=/tmp,readOnly=true,asdf=asdf',
    'foobar,kind=host,source=tmp',
    'foobar,kind=host,uid=3',
    'foobar,kind=host,mode=0755',
    'foobar,kind=host,mode=0600,readOnly=true,gid=0',
    'foobar,kind=empty,source=/tmp',
    'foobar,kind=host,source=/tmp,recursive=MAYBE',
    'foobar,kind=nfs',
    'foobar,kind=host,source=/a,source=/b',
    'foobar,kind',
    'foobar,kind=empty,mode=rwx',
  ];
  for (const input of bad)
    it(`rejects ${input}`, () => assert.throws(() => parseVolumeString(input), AppcError));
  it('says what is wrong', () => {
    assert.throws(() => parseVolumeString('foobar,kind=host,source=tmp'), {
      message: '"foobar,kind=host,source=tmp": source must be an absolute path, got "tmp"',
    });
  });
});

describe('parseMountPointString', () => {
  it('parses', () => {
    assert.deepEqual(parseMountPointString('foobar,path=/tmp'), { name: 'foobar', path: '/tmp' });
    assert.deepEqual(parseMountPointString('foobar,path=/tmp,readOnly=false'), {
      name: 'foobar',
      path: '/tmp',
    });
    assert.deepEqual(parseMountPointString('foobar,path=/tmp,readOnly=true'), {
      name: 'foobar',
      path: '/tmp',
      readOnly: true,
    });
  });
  const bad = [
    '#foobar,path=/tmp',
    'foobar,path=/tmp,readOnly=true,asdf=asdf',
    'foobar,path=/tmp,readOnly=maybe',
    'foobar,path=/tmp,readOnly=',
    'foobar,path=',
    'foobar',
    '',
    ',path=/',
  ];
  for (const input of bad)
    it(`rejects ${JSON.stringify(input)}`, () =>
      assert.throws(() => parseMountPointString(input), AppcError));
});

describe('parsePortString', () => {
  it('parses with defaults', () => {
    assert.deepEqual(parsePortString('www,protocol=tcp,port=80'), {
      name: 'www',
      protocol: 'tcp',
      port: 80,
      count: 1,
      socketActivated: false,
    });
    assert.deepEqual(parsePortString('dns,protocol=udp,port=53,count=2,socketActivated=true'), {
      name: 'dns',
      protocol: 'udp',
      port: 53,
      count: 2,
      socketActivated: true,
    });
    assert.equal(parsePortString('x,protocol=tcp,port=1,count=0').count, 1);
  });
  const bad = [
    'www,protocol=tcp,port=0',
    'www,protocol=tcp,port=65535,count=2',
    'www,protocol=tcp,port=88888',
    'www,port=80',
    'www,protocol=tcp',
    'WWW,protocol=tcp,port=80',
    'www,protocol=tcp,port=eighty',
    'www,protocol=tcp,port=80,foo=bar',
  ];
  for (const input of bad)
    it(`rejects ${input}`, () => assert.throws(() => parsePortString(input), AppcError));
  it('allows a range ending at 65535', () =>
    assert.equal(parsePortString('r,protocol=tcp,port=32456,count=100').count, 100));
});
