// pages/index: the merchant's cards and the open-card navigator.
const { renderPage, textOf } = require('../helpers/page.js');
const { reply, flush } = require('../helpers/fake-wx.js');
const fx = require('../helpers/fixtures.js');
const zh = require('../../i18n/zh-CN.js');

afterEach(() => {
  delete global.wx;
  delete global.getApp;
});

describe('one card: the open-card navigator', () => {
  test('target, app-id, extra-data and version are exactly what the API returned', async () => {
    const { comp, wx } = await renderPage('index', { card: fx.CARD_ID, channel: 'store_front' });
    expect(comp.data.state).toBe('offer');
    const nav = comp.querySelector('#open-card');
    expect(nav).toBeTruthy();
    expect(nav.data.target).toBe('miniProgram');
    expect(nav.data.appId).toBe(fx.params.app_id);
    expect(nav.data.appId).toBe('wxeb490c6f9b154ef9');
    expect(nav.data.extraData).toEqual(fx.params.extra_data);
    // The values are passed through untouched: no re-encoding of +, / or =.
    expect(nav.data.extraData.encrypt_card_id).toBe('3+m9vVGt9YzgCphZE8Z28dUux7i0jgCUWu32QayFZsscPd7oyXGsHp9HoOjH9ML+');
    expect(nav.data.extraData.biz).toBe('MzU2ODQzMDM1MQ==');
    expect(nav.data.version).toBe('release');
    expect(nav.data.url).toBe('');
    expect(nav.dom.textContent).toBe(zh.index.open);
    expect(wx.calls.request.map((r) => r.method + ' ' + r.path)).toEqual([
      'POST /api/v1/sessions',
      'GET /api/v1/cards',
      'GET /api/v1/cards/' + fx.CARD_ID + '/activation-params?channel=store_front'
    ]);
    expect(textOf(comp, '.card-title')).toBe(fx.offer.title);
    expect(wx.calls.setNavigationBarTitle).toEqual([zh.index.title]);
    expect(comp.querySelector('.notice-resume')).toBeFalsy();
  });

  test('whatever the server answers is what the navigator gets', async () => {
    const other = { app_id: 'wxeb490c6f9b154ef9', extra_data: { encrypt_card_id: 'abc/def+ghi=', outer_str: '', biz: 'MjM5MjAxNzc1NA==' } };
    const { comp } = await renderPage('index', { card: fx.CARD_ID }, { routes: { params: () => reply(200, other) } });
    expect(comp.querySelector('#open-card').data.extraData).toEqual(other.extra_data);
  });

  test('tapping the navigator remembers the card for the return trip', async () => {
    const { comp, app } = await renderPage('index', { card: fx.CARD_ID, channel: 'store_front' });
    comp.querySelector('#open-card').dispatchEvent('tap');
    await flush();
    expect(app.rememberOpen).toHaveBeenCalledWith(fx.CARD_ID, 'store_front');
  });

  test('a cancelled jump is silent; another failure shows a toast', async () => {
    const { comp, wx } = await renderPage('index', { card: fx.CARD_ID });
    const nav = comp.querySelector('#open-card');
    nav.dispatchEvent('fail', { detail: { errMsg: 'navigateToMiniProgram:fail cancel' } });
    await flush();
    expect(wx.calls.showToast).toEqual([]);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    nav.dispatchEvent('fail', { detail: { errMsg: 'navigateToMiniProgram:fail appId not in list' } });
    await flush();
    warn.mockRestore();
    expect(wx.calls.showToast).toEqual([{ title: zh.index.openFailed, icon: 'none' }]);
  });

  test('resume=1 (the member backed out) shows the gentle prompt above the button, not an error', async () => {
    const { comp } = await renderPage('index', { card: fx.CARD_ID, resume: '1' });
    expect(comp.data.state).toBe('offer');
    expect(textOf(comp, '.notice-title')).toBe(zh.index.resumeTitle);
    expect(textOf(comp, '.notice-text')).toBe(zh.index.resumeText);
    expect(comp.querySelector('#open-card')).toBeTruthy();
    expect(comp.querySelector('.state-error')).toBeFalsy();
  });

  test('a mini-program code scene with card and channel', async () => {
    const scene = encodeURIComponent('c=' + fx.CARD_ID + '&ch=a1');
    const { comp, wx } = await renderPage('index', { scene });
    expect(comp.data.state).toBe('offer');
    expect(wx.calls.request[2].path).toBe('/api/v1/cards/' + fx.CARD_ID + '/activation-params?channel=a1');
  });

  test('a scene with only a channel opens the merchant\'s only card', async () => {
    const { comp, wx } = await renderPage('index', { scene: 'store_front' }, { routes: { cards: () => reply(200, [fx.offer]) } });
    expect(comp.data.state).toBe('offer');
    expect(wx.calls.request[2].path).toBe('/api/v1/cards/' + fx.CARD_ID + '/activation-params?channel=store_front');
  });
});

describe('states', () => {
  test('loading first: the spinner shows while the cards are fetched', async () => {
    let page = null;
    const seen = [];
    const { comp } = await renderPage('index', { card: fx.CARD_ID }, {
      prepare: (c) => {
        page = c;
      },
      routes: {
        cards: () => {
          seen.push([page.data.state, !!page.querySelector('.spinner'), textOf(page, '.state-loading')]);
          return reply(200, [fx.offer]);
        }
      }
    });
    expect(seen).toEqual([['loading', true, zh.common.loading]]);
    expect(comp.data.state).toBe('offer');
    expect(comp.querySelector('.spinner')).toBeFalsy();
  });

  test('already a member: no navigator, a link to the member card', async () => {
    const { comp, wx } = await renderPage('index', { card: fx.OTHER_CARD_ID });
    expect(comp.data.state).toBe('member');
    expect(comp.querySelector('#open-card')).toBeFalsy();
    expect(textOf(comp, '.notice-member .notice-title')).toBe(zh.index.memberTitle);
    expect(comp.querySelector('#view-card').data.url).toBe('/pages/member/member?card_id=' + fx.OTHER_CARD_ID);
    expect(wx.calls.request.some((r) => r.path.indexOf('activation-params') >= 0)).toBe(false);
  });

  test.each([
    ['channel_archived', 410],
    ['card_not_approved', 409],
    ['wechat_unavailable', 503]
  ])('error %s: the friendly message and a retry button that loads again', async (code, status) => {
    let n = 0;
    const { comp } = await renderPage(
      'index',
      { card: fx.CARD_ID, channel: 'old' },
      { routes: { params: () => (++n === 1 ? reply(status, { code, message: 'x' }) : reply(200, fx.params)) } }
    );
    expect(comp.data.state).toBe('error');
    expect(textOf(comp, '.state-title')).toBe(zh.index.errorTitle);
    expect(textOf(comp, '.state-text')).toBe(zh.errors[code]);
    expect(comp.querySelector('#open-card')).toBeFalsy();
    comp.querySelector('#retry').dispatchEvent('tap');
    await flush();
    expect(comp.data.state).toBe('offer');
    expect(comp.querySelector('#open-card').data.extraData).toEqual(fx.params.extra_data);
  });

  test('an unknown card id is an error, not a list', async () => {
    const { comp } = await renderPage('index', { card: 'pAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(comp.data.state).toBe('error');
    expect(textOf(comp, '.state-text')).toBe(zh.errors.card_not_found);
  });

  test('the server naming another mini-program than the component is refused', async () => {
    const { comp } = await renderPage('index', { card: fx.CARD_ID }, {
      routes: { params: () => reply(200, Object.assign({}, fx.params, { app_id: 'wx0000000000000000' })) }
    });
    expect(comp.data.state).toBe('error');
    expect(textOf(comp, '.state-text')).toBe(zh.errors.bad_component);
    expect(comp.querySelector('#open-card')).toBeFalsy();
  });

  test('the list of cards: held ones link to the member card, others to the open page', async () => {
    const { comp } = await renderPage('index', {});
    expect(comp.data.state).toBe('list');
    const tiles = comp.querySelectorAll('.tile');
    expect(tiles).toHaveLength(2);
    expect(tiles[0].data.url).toBe('/pages/index/index?card=' + fx.CARD_ID);
    expect(tiles[1].data.url).toBe('/pages/member/member?card_id=' + fx.OTHER_CARD_ID);
    expect(tiles[0].dom.textContent).toContain(zh.index.notHeld);
    expect(tiles[1].dom.textContent).toContain(zh.index.held);
  });

  test('an empty list says so', async () => {
    const { comp } = await renderPage('index', {}, { routes: { cards: () => reply(200, []) } });
    expect(textOf(comp, '.empty')).toBe(zh.index.listEmpty);
  });

  test('pull-down refresh loads again and stops the indicator', async () => {
    const { comp, wx } = await renderPage('index', {});
    await comp.instance.onPullDownRefresh();
    expect(wx.calls.request.filter((r) => r.path === '/api/v1/cards')).toHaveLength(2);
    expect(wx.calls.stopPullDownRefresh).toBe(1);
  });
});
