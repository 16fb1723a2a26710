// App.onShow and the return trip from the card-opening component, with a fake `wx` and server.
const { createFakeWx, reply, flush } = require('../helpers/fake-wx.js');
const { createFakeServer } = require('../helpers/fake-server.js');
const fx = require('../helpers/fixtures.js');
const zh = require('../../i18n/zh-CN.js');
const { parseExtraData, readReturn } = require('../../utils/return-trip.js');

const COMPONENT = 'wxeb490c6f9b154ef9';

/** Loads app.js afresh the way WeChat does: App(definition), then onLaunch. */
function launch(overrides, wxOptions) {
  const server = createFakeServer(overrides);
  const wx = createFakeWx(Object.assign({ server: server.handle }, wxOptions || {}));
  global.wx = wx;
  let app = null;
  global.App = function (definition) {
    app = definition;
  };
  jest.isolateModules(() => {
    require('../../app.js');
  });
  app.onLaunch({ scene: 1001, path: 'pages/index/index', query: {} });
  return { app, wx, server };
}

async function settle(wx) {
  await flush();
  return wx;
}

function returnOptions(extraData, appId) {
  return { scene: 1038, path: 'pages/index/index', query: {}, referrerInfo: { appId: appId || COMPONENT, extraData: extraData } };
}

function activations(wx) {
  return wx.calls.request.filter((r) => r.path === '/api/v1/activations');
}

afterEach(() => {
  delete global.wx;
  delete global.App;
});

describe('onLaunch', () => {
  test('logs in: wx.login then POST /api/v1/sessions', async () => {
    const { wx } = launch();
    await settle(wx);
    expect(wx.calls.login).toBe(1);
    expect(wx.calls.request[0]).toMatchObject({ method: 'POST', path: '/api/v1/sessions', data: { code: 'code-1' } });
    expect(wx.getStorageSync('kaika.session').token).toBe('token-1');
  });

  test('a failed login at launch is not an unhandled rejection', async () => {
    const { wx } = launch({ sessions: () => reply(503, { code: 'wechat_unavailable', message: 'x' }) });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    await settle(wx);
    expect(warn).toHaveBeenCalledWith('[kaika] login at launch failed:', 'wechat_unavailable', 'x');
    warn.mockRestore();
  });
});

describe('onShow: the return trip', () => {
  test('extraData object: one POST with the ticket, then the member card page', async () => {
    const { app, wx } = launch();
    await settle(wx);
    app.onShow(returnOptions(fx.extraData));
    await settle(wx);
    const posts = activations(wx);
    expect(posts).toHaveLength(1);
    expect(posts[0].data).toEqual({ activate_ticket: fx.extraData.activate_ticket, card_id: fx.CARD_ID, encrypt_code: fx.extraData.code });
    expect(wx.calls.showLoading).toEqual([{ title: zh.app.activating, mask: true }]);
    expect(wx.calls.hideLoading).toBe(1);
    expect(wx.calls.reLaunch).toEqual(['/pages/member/member?card_id=' + fx.CARD_ID]);
    expect(app.globalData.lastMember).toEqual(fx.member);
    expect(wx.calls.showModal).toEqual([]);
  });

  test('extraData as a JSON string (DevTools) is parsed', async () => {
    const { app, wx } = launch();
    app.onShow(returnOptions(JSON.stringify(fx.extraData)));
    await settle(wx);
    expect(activations(wx).map((p) => p.data.activate_ticket)).toEqual([fx.extraData.activate_ticket]);
    expect(wx.calls.reLaunch).toEqual(['/pages/member/member?card_id=' + fx.CARD_ID]);
  });

  test('a replayed referrerInfo posts once: while in flight, after success, and after a relaunch', async () => {
    let release;
    const gate = new Promise((resolve) => {
      release = resolve;
    });
    const { app, wx } = launch({ activations: () => gate.then(() => reply(200, fx.member)) });
    app.onShow(returnOptions(fx.extraData));
    app.onShow(returnOptions(fx.extraData));
    await settle(wx);
    expect(activations(wx)).toHaveLength(1);
    release();
    await settle(wx);
    app.onShow(returnOptions(fx.extraData));
    app.onShow(returnOptions(JSON.stringify(fx.extraData)));
    await settle(wx);
    expect(activations(wx)).toHaveLength(1);
    expect(wx.calls.reLaunch).toHaveLength(1);

    // The same storage after a cold start (DevTools recompiles with the same compile condition).
    const storage = Object.assign({}, wx.storage);
    const again = launch();
    Object.assign(again.wx.storage, storage);
    again.app.loadHandledTickets();
    await settle(again.wx);
    again.app.onShow(returnOptions(fx.extraData));
    await settle(again.wx);
    expect(activations(again.wx)).toHaveLength(0);
  });

  test('a different ticket is a new activation', async () => {
    const { app, wx } = launch();
    app.onShow(returnOptions(fx.extraData));
    await settle(wx);
    app.onShow(returnOptions(Object.assign({}, fx.extraData, { activate_ticket: 'another-ticket' })));
    await settle(wx);
    expect(activations(wx).map((p) => p.data.activate_ticket)).toEqual([fx.extraData.activate_ticket, 'another-ticket']);
  });

  test.each([
    ['another mini-program', { scene: 1038, referrerInfo: { appId: 'wx0000000000000000', extraData: fx.extraData } }],
    ['no referrerInfo', { scene: 1001 }],
    ['referrerInfo without appId', { scene: 1038, referrerInfo: {} }],
    ['undefined options', undefined]
  ])('ignored: %s', async (_name, options) => {
    const { app, wx } = launch();
    await settle(wx);
    const before = wx.calls.request.length;
    await expect(app.handleReturn(options)).resolves.toBe('ignored');
    app.onShow(options);
    await settle(wx);
    expect(wx.calls.request.length).toBe(before);
    expect(wx.calls.reLaunch).toEqual([]);
    expect(wx.calls.showModal).toEqual([]);
    expect(wx.calls.showLoading).toEqual([]);
  });

  test('backed out (no extraData): back to the card being opened with a gentle prompt, once', async () => {
    const { app, wx } = launch();
    app.rememberOpen(fx.CARD_ID, 'store_front');
    await expect(app.handleReturn(returnOptions(undefined))).resolves.toBe('backed_out');
    expect(wx.calls.reLaunch).toEqual(['/pages/index/index?card=' + fx.CARD_ID + '&resume=1&channel=store_front']);
    expect(wx.calls.showModal).toEqual([]);
    expect(activations(wx)).toHaveLength(0);
    // A replay of the same referrerInfo later does not pull the member back again.
    await expect(app.handleReturn(returnOptions(undefined))).resolves.toBe('ignored');
    expect(wx.calls.reLaunch).toHaveLength(1);
  });

  test.each([
    ['empty object', {}],
    ['empty string', ''],
    ['unparseable string', '{"activate_ticket":'],
    ['ticket without code', { activate_ticket: 'x', card_id: fx.CARD_ID }]
  ])('backed out: extraData is %s', async (_name, extra) => {
    const { app, wx } = launch();
    app.rememberOpen(fx.CARD_ID, '');
    await expect(app.handleReturn(returnOptions(extra))).resolves.toBe('backed_out');
    expect(wx.calls.reLaunch).toEqual(['/pages/index/index?card=' + fx.CARD_ID + '&resume=1']);
    expect(activations(wx)).toHaveLength(0);
  });

  test('a successful activation forgets the card being opened', async () => {
    const { app, wx } = launch();
    app.rememberOpen(fx.CARD_ID, 'store_front');
    app.onShow(returnOptions(fx.extraData));
    await settle(wx);
    expect(wx.getStorageSync('kaika.pendingOpen')).toBe('');
  });
});

describe('onShow: activation errors are shown', () => {
  test('ticket_expired: a modal with the friendly message and a way to open the card again', async () => {
    const { app, wx } = launch(
      { activations: () => reply(422, { code: 'ticket_expired', message: 'activate_ticket has been expired' }) },
      { modalConfirm: true }
    );
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    app.onShow(returnOptions(fx.extraData));
    await settle(wx);
    warn.mockRestore();
    expect(wx.calls.hideLoading).toBe(1);
    expect(wx.calls.showModal).toHaveLength(1);
    expect(wx.calls.showModal[0]).toMatchObject({
      title: zh.app.activationFailedTitle,
      content: zh.errors.ticket_expired,
      showCancel: false,
      confirmText: zh.app.reopen
    });
    expect(wx.calls.reLaunch).toEqual(['/pages/index/index?card=' + fx.CARD_ID]);
    // The same (spent) ticket replayed is not posted again.
    app.onShow(returnOptions(fx.extraData));
    await settle(wx);
    expect(activations(wx)).toHaveLength(1);
  });

  test('wechat_unavailable: "try again" posts the same ticket again, and then shows the card', async () => {
    let n = 0;
    const { app, wx } = launch(
      {
        activations: () => {
          n += 1;
          return n === 1 ? reply(503, { code: 'wechat_unavailable', message: 'later' }) : reply(200, fx.member);
        }
      },
      { modalConfirm: true }
    );
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    app.onShow(returnOptions(fx.extraData));
    await settle(wx);
    warn.mockRestore();
    expect(wx.calls.showModal[0]).toMatchObject({ content: zh.errors.wechat_unavailable, confirmText: zh.common.retry, cancelText: zh.common.close });
    const posts = activations(wx);
    expect(posts).toHaveLength(2);
    expect(posts[1].data).toEqual(posts[0].data);
    expect(wx.calls.reLaunch).toEqual(['/pages/member/member?card_id=' + fx.CARD_ID]);
  });

  test('closing the error modal does nothing more', async () => {
    const { app, wx } = launch({ activations: () => ({ fail: 'timeout' }) }, { modalConfirm: false });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    await expect(app.handleReturn(returnOptions(fx.extraData))).resolves.toBe('failed');
    await settle(wx);
    warn.mockRestore();
    expect(wx.calls.showModal[0].content).toBe(zh.errors.network);
    expect(activations(wx)).toHaveLength(1);
    expect(wx.calls.reLaunch).toEqual([]);
  });
});

describe('utils/return-trip', () => {
  test('parseExtraData', () => {
    expect(parseExtraData(fx.extraData)).toEqual(fx.extraData);
    expect(parseExtraData(JSON.stringify(fx.extraData))).toEqual(fx.extraData);
    expect(parseExtraData('  ' + JSON.stringify(fx.extraData) + '\n')).toEqual(fx.extraData);
    expect(parseExtraData(undefined)).toBeNull();
    expect(parseExtraData(null)).toBeNull();
    expect(parseExtraData({})).toBeNull();
    expect(parseExtraData('"a string"')).toBeNull();
    expect(parseExtraData('[1,2]')).toBeNull();
    expect(parseExtraData('not json')).toBeNull();
  });

  test('readReturn keeps the ticket byte for byte (+, / and = untouched)', () => {
    const got = readReturn(returnOptions(JSON.stringify(fx.extraData)));
    expect(got).toEqual({
      kind: 'activate',
      ticket: { activate_ticket: fx.extraData.activate_ticket, card_id: fx.CARD_ID, encrypt_code: fx.extraData.code }
    });
    expect(got.ticket.activate_ticket).toContain('++vm/');
  });
});
