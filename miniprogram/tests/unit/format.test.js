const { money, groupCode, parseEntry } = require('../../utils/format.js');
const fx = require('../helpers/fixtures.js');

test('money: cents to yuan with thousands separators', () => {
  expect(money(0)).toBe('0.00');
  expect(money(5)).toBe('0.05');
  expect(money(100)).toBe('1.00');
  expect(money(123456)).toBe('1,234.56');
  expect(money(100000000)).toBe('1,000,000.00');
  expect(money(-250)).toBe('-2.50');
  expect(money(undefined)).toBe('0.00');
});

test('groupCode: groups of four', () => {
  expect(groupCode('226009850808')).toBe('2260 0985 0808');
  expect(groupCode('12345')).toBe('1234 5');
  expect(groupCode('')).toBe('');
});

describe('parseEntry', () => {
  test('query parameters', () => {
    expect(parseEntry({ card: fx.CARD_ID, channel: 'store_front' })).toEqual({ card: fx.CARD_ID, channel: 'store_front' });
    expect(parseEntry({ card_id: fx.CARD_ID })).toEqual({ card: fx.CARD_ID, channel: '' });
    expect(parseEntry({})).toEqual({ card: '', channel: '' });
    expect(parseEntry(undefined)).toEqual({ card: '', channel: '' });
  });

  test('scene forms (mini-program codes hold at most 32 characters)', () => {
    expect(parseEntry({ scene: encodeURIComponent('c=' + fx.CARD_ID + '&ch=a') })).toEqual({ card: fx.CARD_ID, channel: 'a' });
    expect(parseEntry({ scene: fx.CARD_ID })).toEqual({ card: fx.CARD_ID, channel: '' });
    expect(parseEntry({ scene: 'store_front' })).toEqual({ card: '', channel: 'store_front' });
    expect(parseEntry({ scene: encodeURIComponent('channel=article') })).toEqual({ card: '', channel: 'article' });
  });

  test('invalid values are dropped', () => {
    expect(parseEntry({ card: 'not-a-card', channel: 'has space' })).toEqual({ card: '', channel: '' });
    expect(parseEntry({ channel: 'x'.repeat(33) })).toEqual({ card: '', channel: '' });
    expect(parseEntry({ scene: '%E0%A4%A' })).toEqual({ card: '', channel: '' });
  });
});

test('signedAmount: points as signed integers, balance as signed yuan', () => {
  const { signedAmount, total } = require('../../utils/format.js');
  expect(signedAmount('points', 100)).toBe('+100');
  expect(signedAmount('points', -50)).toBe('-50');
  expect(signedAmount('points', 0)).toBe('0');
  expect(signedAmount('balance', 1250, '¥')).toBe('+¥12.50');
  expect(signedAmount('balance', -5, '¥')).toBe('-¥0.05');
  expect(signedAmount('balance', 123456789, '¥')).toBe('+¥1,234,567.89');
  expect(total('balance', 123456, '¥')).toBe('¥1,234.56');
  expect(total('balance', -100, '¥')).toBe('-¥1.00');
  expect(total('points', 1280, '¥')).toBe('1280');
});

test('dateTime: RFC 3339 (with microseconds or an offset) in the local time zone', () => {
  const { dateTime } = require('../../utils/format.js');
  const local = (ms) => {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes());
  };
  const at = Date.UTC(2026, 10, 26, 10, 5, 0);
  expect(dateTime('2026-11-26T10:05:00.123456Z')).toBe(local(at));
  expect(dateTime('2026-11-26T10:05:00Z')).toBe(local(at));
  expect(dateTime('2026-11-26T18:05:00+08:00')).toBe(local(at));
  expect(dateTime('2026-11-26T05:05:00-05:00')).toBe(local(at));
  expect(dateTime('yesterday')).toBe('yesterday');
  expect(dateTime(null)).toBe('');
});
