// pages/ledger: the totals, then the history from GET /api/v1/me/cards/{card_id}/ledger, page by page.
const { renderPage, textOf } = require('../helpers/page.js');
const { reply, flush } = require('../helpers/fake-wx.js');
const fx = require('../helpers/fixtures.js');
const format = require('../../utils/format.js');
const zh = require('../../i18n/zh-CN.js');

const LEDGER = '/api/v1/me/cards/' + fx.CARD_ID + '/ledger';

afterEach(() => {
  delete global.wx;
  delete global.getApp;
});

/** What each rendered entry shows: [label, note, time, amount, side line]. */
function rows(comp) {
  return comp.querySelectorAll('.entry').map((e) => {
    const text = (sel) => {
      // The simulator prefixes class names (`main--entry-label`).
      const el = e.dom.querySelector('[class*="--' + sel.slice(1) + '"]');
      return el ? el.textContent.trim() : null;
    };
    return [text('.entry-label'), text('.entry-note'), text('.entry-time'), text('.entry-amount'), text('.entry-after')];
  });
}

function ledgerPaths(wx) {
  return wx.calls.request.filter((r) => r.path.indexOf('/ledger') >= 0).map((r) => r.path);
}

test('shows points, balance and level, then the first page of the history, newest first and formatted', async () => {
  const { comp, wx } = await renderPage('ledger', { card_id: fx.CARD_ID });
  expect(wx.calls.request.map((r) => r.method + ' ' + r.path)).toEqual([
    'POST /api/v1/sessions',
    'GET /api/v1/me/cards/' + fx.CARD_ID,
    'GET ' + LEDGER
  ]);
  expect(comp.data.state).toBe('ready');
  expect(textOf(comp, '#points')).toBe('1280');
  expect(textOf(comp, '#balance')).toBe('¥1,234.56');
  expect(textOf(comp, '#level')).toBe('金卡');
  expect(textOf(comp, '.totals-title')).toBe('开卡会员卡');
  expect(wx.calls.setNavigationBarTitle).toEqual([zh.ledger.title]);

  const time = format.dateTime('2026-11-26T10:00:00.123456Z');
  expect(time).toMatch(/^2026-11-2[67] \d\d:00$/);
  expect(rows(comp)).toEqual([
    [zh.ledger.reasonPurchase, '拿铁 ×2', time, '-¥12.50', zh.ledger.kindBalance + ' · ' + zh.ledger.after + ' ¥1,234.56'],
    [zh.ledger.reasonAdjustment, null, time, '+1180', zh.ledger.kindPoints + ' · ' + zh.ledger.after + ' 1280']
  ]);
  const classes = (e) => e.dom.className.split(' ').map((c) => c.replace(/^.*--/, ''));
  expect(comp.querySelectorAll('.entry-amount').map(classes)).toEqual([['entry-amount', 'out'], ['entry-amount', 'in']]);
  // More to come: neither the end line nor the empty state.
  expect(comp.querySelector('#history-end')).toBeFalsy();
  expect(comp.querySelector('#history-empty')).toBeFalsy();
  expect(comp.querySelector('#history-pending')).toBeFalsy();
});

test('onReachBottom loads the next pages until next_cursor is null, then asks no more', async () => {
  const { comp, wx } = await renderPage('ledger', { card_id: fx.CARD_ID });
  await comp.instance.onReachBottom();
  await flush();
  expect(rows(comp).map((r) => [r[0], r[3]])).toEqual([
    [zh.ledger.reasonPurchase, '-¥12.50'],
    [zh.ledger.reasonAdjustment, '+1180'],
    [zh.ledger.reasonImport, '+¥1,247.06'],
    [zh.ledger.reasonOther, '0'] // a reason this version does not know
  ]);
  expect(comp.querySelector('#history-end')).toBeFalsy();

  await comp.instance.onReachBottom();
  await flush();
  expect(rows(comp).map((r) => r[0])).toEqual([
    zh.ledger.reasonPurchase, zh.ledger.reasonAdjustment, zh.ledger.reasonImport, zh.ledger.reasonOther, zh.ledger.reasonWelcome
  ]);
  expect(rows(comp)[4][3]).toBe('+100');
  expect(comp.data.nextCursor).toBe(null);
  expect(textOf(comp, '#history-end')).toBe(zh.ledger.historyEnd);

  await comp.instance.onReachBottom();
  await flush();
  expect(ledgerPaths(wx)).toEqual([LEDGER, LEDGER + '?cursor=4', LEDGER + '?cursor=2']);
});

test('a second onReachBottom while a page is in flight sends no second request', async () => {
  const { comp, wx } = await renderPage('ledger', { card_id: fx.CARD_ID });
  const first = comp.instance.onReachBottom();
  expect(comp.data.loadingMore).toBe(true);
  const second = comp.instance.onReachBottom();
  await Promise.all([first, second]);
  await flush();
  expect(ledgerPaths(wx)).toEqual([LEDGER, LEDGER + '?cursor=4']);
  expect(rows(comp)).toHaveLength(4);
});

test('no entries: the empty state, not an end line', async () => {
  const { comp } = await renderPage('ledger', { card_id: fx.CARD_ID }, {
    routes: { ledger: () => reply(200, { entries: [], next_cursor: null }) }
  });
  expect(comp.data.state).toBe('ready');
  expect(textOf(comp, '#history-empty')).toBe(zh.ledger.historyEmpty);
  expect(rows(comp)).toEqual([]);
  expect(comp.querySelector('#history-end')).toBeFalsy();
  expect(textOf(comp, '#points')).toBe('1280');
});

test('while the history loads: the totals and a loading line', async () => {
  let release;
  let comp;
  const rendering = renderPage('ledger', { card_id: fx.CARD_ID }, {
    prepare: (c) => {
      comp = c;
    },
    routes: { ledger: () => new Promise((resolve) => (release = () => resolve(reply(200, fx.ledgerPages[2])))) }
  });
  while (!release) await flush(1);
  expect(comp.data.history).toBe('loading');
  expect(textOf(comp, '#history-loading')).toBe(zh.ledger.historyLoading);
  expect(textOf(comp, '#points')).toBe('1280');
  release();
  await rendering;
  expect(rows(comp).map((r) => r[0])).toEqual([zh.ledger.reasonWelcome]);
  expect(textOf(comp, '#history-end')).toBe(zh.ledger.historyEnd);
});

test('the history fails: the totals stay, the error and its retry reload the first page', async () => {
  let n = 0;
  const { comp, wx } = await renderPage('ledger', { card_id: fx.CARD_ID }, {
    routes: { ledger: () => (++n === 1 ? { fail: 'timeout' } : reply(200, fx.ledgerPages[0])) }
  });
  expect(comp.data.state).toBe('ready');
  expect(comp.data.history).toBe('error');
  expect(textOf(comp, '#points')).toBe('1280');
  expect(textOf(comp, '#history-error .state-title')).toBe(zh.ledger.historyError);
  expect(textOf(comp, '#history-error .state-text')).toBe(zh.errors.network);
  comp.querySelector('#retry-history').dispatchEvent('tap');
  await flush();
  expect(comp.data.history).toBe('ready');
  expect(rows(comp)).toHaveLength(2);
  expect(wx.calls.request.filter((r) => r.path === '/api/v1/me/cards/' + fx.CARD_ID)).toHaveLength(1);
});

test('a next page fails: the entries stay, and the retry asks for the same page', async () => {
  let failed = false;
  const { comp, wx } = await renderPage('ledger', { card_id: fx.CARD_ID }, {
    routes: {
      ledger: (req) => {
        const cursor = new URL(req.url).searchParams.get('cursor');
        if (cursor === '4' && !failed) {
          failed = true;
          return reply(500, { code: 'internal', message: 'x' });
        }
        return reply(200, cursor === '4' ? fx.ledgerPages[1] : fx.ledgerPages[0]);
      }
    }
  });
  await comp.instance.onReachBottom();
  await flush();
  expect(rows(comp)).toHaveLength(2);
  expect(textOf(comp, '#more-error .more-error-title')).toBe(zh.ledger.moreError);
  expect(textOf(comp, '#more-error .state-text')).toBe(zh.errors.internal);
  comp.querySelector('#retry-more').dispatchEvent('tap');
  await flush();
  expect(comp.querySelector('#more-error')).toBeFalsy();
  expect(rows(comp)).toHaveLength(4);
  expect(ledgerPaths(wx)).toEqual([LEDGER, LEDGER + '?cursor=4', LEDGER + '?cursor=4']);
});

test('pull-down refresh starts over from the first page', async () => {
  const { comp, wx } = await renderPage('ledger', { card_id: fx.CARD_ID });
  await comp.instance.onReachBottom();
  await flush();
  expect(rows(comp)).toHaveLength(4);
  await comp.instance.onPullDownRefresh();
  await flush();
  expect(rows(comp)).toHaveLength(2);
  expect(comp.data.nextCursor).toBe('4');
  expect(wx.calls.stopPullDownRefresh).toBe(1);
  expect(ledgerPaths(wx)).toEqual([LEDGER, LEDGER + '?cursor=4', LEDGER]);
});

test('a failure of the totals shows the friendly message and retries', async () => {
  let n = 0;
  const { comp, wx } = await renderPage('ledger', { card_id: fx.CARD_ID }, {
    routes: { myCard: () => (++n === 1 ? reply(404, { code: 'membership_not_found', message: 'x' }) : reply(200, fx.member)) }
  });
  expect(comp.data.state).toBe('error');
  expect(textOf(comp, '.state-text')).toBe(zh.errors.membership_not_found);
  expect(ledgerPaths(wx)).toEqual([]);
  comp.querySelector('#retry').dispatchEvent('tap');
  await flush();
  expect(comp.data.state).toBe('ready');
  expect(rows(comp)).toHaveLength(2);
});

test('without a card id: an error, and no request for a card', async () => {
  const { comp, wx } = await renderPage('ledger', {});
  expect(comp.data.state).toBe('error');
  expect(textOf(comp, '.state-text')).toBe(zh.errors.card_not_found);
  expect(wx.calls.request.filter((r) => r.path.indexOf('/me/cards') >= 0)).toEqual([]);
  await comp.instance.onReachBottom();
  expect(wx.calls.request.filter((r) => r.path.indexOf('/me/cards') >= 0)).toEqual([]);
});

test('English catalogue: reason labels and kinds', () => {
  const en = require('../../i18n/en.js');
  ['reasonWelcome', 'reasonPurchase', 'reasonRedemption', 'reasonAdjustment', 'reasonReversal', 'reasonImport', 'reasonExpiry', 'reasonOther', 'kindPoints', 'kindBalance']
    .forEach((k) => {
      expect([k, typeof en.ledger[k], typeof zh.ledger[k]]).toEqual([k, 'string', 'string']);
    });
});
