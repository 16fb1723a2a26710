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
