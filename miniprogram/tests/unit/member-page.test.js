// pages/member: the member card, its codes drawn on canvas, and its states.
const jsQR = require('jsqr');
const { renderPage, textOf } = require('../helpers/page.js');
const { reply, flush } = require('../helpers/fake-wx.js');
const { fakeCanvasNode, rasterise, readBars } = require('../helpers/canvas.js');
const code128 = require('../../vendor/code128/code128.js');
const fx = require('../helpers/fixtures.js');
const zh = require('../../i18n/zh-CN.js');

afterEach(() => {
  delete global.wx;
  delete global.getApp;
});

/** Gives the page canvases laid out at the sizes the WXML asks for, and records what is drawn. */
function withCanvases(canvases) {
  return (comp) => {
    canvases.barcode = fakeCanvasNode();
    canvases.qrcode = fakeCanvasNode();
    comp.instance.createSelectorQuery = () => {
      const selected = [];
      const q = {
        select(sel) {
          selected.push(sel);
          return q;
        },
        fields() {
          return q;
        },
        exec(cb) {
          const res = selected.map((sel) => {
            const name = sel.replace('#', '');
            const found = comp.querySelector(sel);
            if (!found) return null;
            const size = name === 'barcode' ? { width: 311, height: comp.data.barcodeHeight } : { width: comp.data.qrSize, height: comp.data.qrSize };
            return Object.assign({ node: canvases[name].node }, size);
          });
          setTimeout(() => cb(res), 0);
        }
      };
      return q;
    };
  };
}

describe('the member card', () => {
  test('renders the card face, number, code, points, balance, level and the history link', async () => {
    const canvases = {};
    const { comp, wx } = await renderPage('member', { card_id: fx.CARD_ID }, { prepare: withCanvases(canvases) });
    expect(comp.data.state).toBe('card');
    expect(wx.calls.request[1].path).toBe('/api/v1/me/cards/' + fx.CARD_ID);
    const face = comp.querySelector('.card-face');
    expect(face.dom.getAttribute('style')).toContain('background-color: #63b359');
    expect(textOf(comp, '.card-title')).toBe('开卡会员卡');
    expect(textOf(comp, '.brand')).toBe('Kaika 咖啡');
    expect(textOf(comp, '#membership-number')).toBe('KK00000042');
    expect(textOf(comp, '#code-text')).toBe('2260 0985 0808');
    expect(textOf(comp, '#points')).toBe('1280');
    expect(textOf(comp, '#balance')).toBe('¥1,234.56');
    expect(textOf(comp, '#level')).toBe('金卡');
    expect(comp.querySelector('#history-link').data.url).toBe('/pages/ledger/ledger?card_id=' + fx.CARD_ID);
    expect(comp.querySelector('#barcode')).toBeTruthy();
    expect(comp.querySelector('#qrcode')).toBeTruthy();
    expect(comp.querySelector('.notice-warn')).toBeFalsy();
  });

  test('the barcode and QR code drawn on the canvases read back as the card code', async () => {
    const canvases = {};
    const { comp } = await renderPage('member', { card_id: fx.CARD_ID }, { prepare: withCanvases(canvases) });
    await flush();
    expect(comp.data.state).toBe('card');
    const bar = canvases.barcode;
    expect(bar.node.width).toBe(622); // 311 css px at pixel ratio 2
    const bits = code128.encode(fx.member.code).bits;
    const modules = bits.length + 20;
    const barImage = rasterise(bar.ops, 311, 72, 4);
    expect(readBars(barImage, modules)).toBe('0'.repeat(10) + bits + '0'.repeat(10));
    const qrImage = rasterise(canvases.qrcode.ops, 160, 160, 2);
    const decoded = jsQR(qrImage.data, qrImage.width, qrImage.height);
    expect(decoded && decoded.data).toBe(fx.member.code);
  });

  test('no level and no membership number: the defaults, not blanks', async () => {
    const canvases = {};
    const { comp } = await renderPage('member', { card_id: fx.CARD_ID }, {
      prepare: withCanvases(canvases),
      routes: { myCard: () => reply(200, Object.assign({}, fx.member, { level: null, membership_number: null, balance_cents: 5, points: 0 })) }
    });
    expect(textOf(comp, '#level')).toBe(zh.member.noLevel);
    expect(textOf(comp, '#membership-number')).toBe(zh.common.none);
    expect(textOf(comp, '#balance')).toBe('¥0.05');
    expect(textOf(comp, '#points')).toBe('0');
  });

  test('a card deleted in WeChat says so', async () => {
    const canvases = {};
    const { comp } = await renderPage('member', { card_id: fx.CARD_ID }, {
      prepare: withCanvases(canvases),
      routes: { myCard: () => reply(200, Object.assign({}, fx.member, { status: 'deleted' })) }
    });
    expect(textOf(comp, '.notice-warn')).toBe(zh.member.deleted);
  });

  test('just activated: shows the card the activation returned at once, then refreshes it', async () => {
    const canvases = {};
    let seenState = null;
    let page = null;
    const { comp } = await renderPage('member', { card_id: fx.CARD_ID }, {
      app: { globalData: { lastMember: Object.assign({}, fx.member, { points: 100 }) } },
      prepare: (c) => {
        page = c;
        withCanvases(canvases)(c);
      },
      routes: {
        myCard: () => {
          seenState = [page.data.state, textOf(page, '#points')];
          return reply(200, fx.member);
        }
      }
    });
    expect(seenState).toEqual(['card', '100']);
    expect(textOf(comp, '#points')).toBe('1280');
  });

  test('just activated, and the refresh fails: the card stays, a toast says why', async () => {
    const canvases = {};
    const { comp, wx } = await renderPage('member', { card_id: fx.CARD_ID }, {
      app: { globalData: { lastMember: fx.member } },
      prepare: withCanvases(canvases),
      routes: { myCard: () => ({ fail: 'timeout' }) }
    });
    expect(comp.data.state).toBe('card');
    expect(wx.calls.showToast).toEqual([{ title: zh.errors.network, icon: 'none' }]);
  });
});

describe('states', () => {
  test('not a member of this card: an invitation to open it', async () => {
    const { comp } = await renderPage('member', { card_id: fx.CARD_ID }, {
      routes: { myCard: () => reply(404, { code: 'membership_not_found', message: 'you do not hold this card yet' }) }
    });
    expect(comp.data.state).toBe('not_member');
    expect(textOf(comp, '.state-title')).toBe(zh.member.notMemberTitle);
    expect(textOf(comp, '.btn-primary')).toBe(zh.member.openCard);
    expect(comp.querySelector('.btn-primary').data.url).toBe('/pages/index/index?card=' + fx.CARD_ID);
  });

  test('an error shows the friendly message and retries', async () => {
    let n = 0;
    const canvases = {};
    const { comp } = await renderPage('member', { card_id: fx.CARD_ID }, {
      prepare: withCanvases(canvases),
      routes: { myCard: () => (++n === 1 ? reply(500, { code: 'internal', message: 'boom' }) : reply(200, fx.member)) }
    });
    expect(comp.data.state).toBe('error');
    expect(textOf(comp, '.state-title')).toBe(zh.member.errorTitle);
    expect(textOf(comp, '.state-text')).toBe(zh.errors.internal);
    comp.querySelector('#retry').dispatchEvent('tap');
    await flush();
    expect(comp.data.state).toBe('card');
  });

  test('without a card id: the only card', async () => {
    const canvases = {};
    const { comp, wx } = await renderPage('member', {}, { prepare: withCanvases(canvases) });
    expect(wx.calls.request[1].path).toBe('/api/v1/me/cards');
    expect(comp.data.state).toBe('card');
    expect(textOf(comp, '#membership-number')).toBe('KK00000042');
  });

  test('without a card id and several cards: the list', async () => {
    const second = Object.assign({}, fx.member, { card_id: fx.OTHER_CARD_ID, title: '储值卡', points: 7 });
    const { comp } = await renderPage('member', {}, { routes: { myCards: () => reply(200, [fx.member, second]) } });
    expect(comp.data.state).toBe('list');
    const tiles = comp.querySelectorAll('.tile');
    expect(tiles.map((t) => t.data.url)).toEqual([
      '/pages/member/member?card_id=' + fx.CARD_ID,
      '/pages/member/member?card_id=' + fx.OTHER_CARD_ID
    ]);
  });

  test('without a card id and no card: the empty state', async () => {
    const { comp } = await renderPage('member', {}, { routes: { myCards: () => reply(200, []) } });
    expect(comp.data.state).toBe('empty');
    expect(textOf(comp, '.state-title')).toBe(zh.member.emptyTitle);
  });
});
