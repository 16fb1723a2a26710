// Renders a page of this mini-program with miniprogram-simulate, its WXML compiled by the official
// compiler (miniprogram-compiler's wcc), with a fake `wx` and server.
const path = require('path');
const simulate = require('miniprogram-simulate');
const { createFakeWx, flush } = require('./fake-wx.js');
const { createFakeServer } = require('./fake-server.js');
const api = require('../../utils/api.js');

const ROOT = path.resolve(__dirname, '../..');

// The built-in <navigator> renders as a bare element in the simulator and drops its attributes, so the
// tests stand a component in for it that declares the documented attributes as properties; what the
// page's WXML binds to them is then readable as `.data`. `null` types keep values exactly as bound.
let navigatorId = null;
function navigatorStub() {
  if (!navigatorId) {
    navigatorId = simulate.load({
      tagName: 'wx-navigator',
      template: '<slot/>',
      properties: {
        target: { type: null, value: 'self' },
        appId: { type: null, value: '' },
        path: { type: null, value: '' },
        extraData: { type: null, value: null },
        version: { type: null, value: 'release' },
        url: { type: null, value: '' },
        openType: { type: null, value: 'navigate' },
        hoverClass: { type: null, value: '' }
      }
    });
  }
  return navigatorId;
}

const loaded = {};
function pageId(name) {
  if (!loaded[name]) {
    loaded[name] = simulate.load(path.join(ROOT, 'pages', name, name), {
      rootPath: ROOT,
      usingComponents: { navigator: navigatorStub() }
    });
  }
  return loaded[name];
}

/**
 * Renders pages/<name>/<name> with a fresh fake wx/server; `prepare(comp)` runs before onLoad.
 * Resolves once onLoad's work has settled.
 */
async function renderPage(name, query, options) {
  const opts = options || {};
  const server = createFakeServer(opts.routes);
  const wx = createFakeWx({ server: server.handle });
  global.wx = wx;
  const app = opts.app || { globalData: {}, rememberOpen: jest.fn() };
  global.getApp = () => app;
  api.resetClient();
  const comp = simulate.render(pageId(name));
  comp.attach(document.createElement('parent-wrapper'));
  if (opts.prepare) opts.prepare(comp);
  await comp.instance.onLoad(query || {});
  await flush();
  return { comp, wx, server, app };
}

/** The visible text of the element matching `selector`, or null. */
function textOf(comp, selector) {
  const el = comp.querySelector(selector);
  return el ? el.dom.textContent.trim() : null;
}

module.exports = { renderPage, textOf, ROOT, simulate };
