// pages/ledger: today the totals only (the history endpoint does not exist yet).
const { renderPage, textOf } = require('../helpers/page.js');
const { reply, flush } = require('../helpers/fake-wx.js');
const fx = require('../helpers/fixtures.js');
const zh = require('../../i18n/zh-CN.js');

afterEach(() => {
  delete global.wx;
  delete global.getApp;
});

test('shows points, balance and level of the card, and says the details are coming', async () => {
  const { comp, wx } = await renderPage('ledger', { card_id: fx.CARD_ID });
  expect(wx.calls.request.map((r) => r.method + ' ' + r.path)).toEqual(['POST /api/v1/sessions', 'GET /api/v1/me/cards/' + fx.CARD_ID]);
  expect(comp.data.state).toBe('ready');
  expect(textOf(comp, '#points')).toBe('1280');
  expect(textOf(comp, '#balance')).toBe('¥1,234.56');
  expect(textOf(comp, '#level')).toBe('金卡');
  expect(textOf(comp, '.totals-title')).toBe('开卡会员卡');
  // Honest about the missing history: a sentence, not an empty list that would claim "no entries".
  expect(textOf(comp, '#history-pending')).toBe(zh.ledger.historyPending);
  expect(wx.calls.setNavigationBarTitle).toEqual([zh.ledger.title]);
});

test('a failure shows the friendly message and retries', async () => {
  let n = 0;
  const { comp } = await renderPage('ledger', { card_id: fx.CARD_ID }, {
    routes: { myCard: () => (++n === 1 ? reply(404, { code: 'membership_not_found', message: 'x' }) : reply(200, fx.member)) }
  });
  expect(comp.data.state).toBe('error');
  expect(textOf(comp, '.state-text')).toBe(zh.errors.membership_not_found);
  comp.querySelector('#retry').dispatchEvent('tap');
  await flush();
  expect(comp.data.state).toBe('ready');
});

test('without a card id: an error, and no request for a card', async () => {
  const { comp, wx } = await renderPage('ledger', {});
  expect(comp.data.state).toBe('error');
  expect(textOf(comp, '.state-text')).toBe(zh.errors.card_not_found);
  expect(wx.calls.request.filter((r) => r.path.indexOf('/me/cards') >= 0)).toEqual([]);
});
