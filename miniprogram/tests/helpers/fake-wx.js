// A fake `wx` for the unit tests: an in-memory storage, a scripted server behind wx.request, and a
// record of every UI call (loading, modals, toasts, navigation).

/** A response: { status, body, headers } → what wx.request's success receives. */
function reply(status, body, headers) {
  return { statusCode: status, data: body, header: headers || {} };
}

/**
 * createFakeWx({ server, loginCodes, modalConfirm })
 *   server(req) → reply(...) | { fail: 'errMsg' } | a promise of either; req = {method, url, path, data, header}
 */
function createFakeWx(options) {
  const opts = options || {};
  const storage = {};
  const calls = {
    request: [],
    login: 0,
    showLoading: [],
    hideLoading: 0,
    showModal: [],
    showToast: [],
    reLaunch: [],
    setNavigationBarTitle: [],
    stopPullDownRefresh: 0
  };
  let loginN = 0;
  const wx = {
    calls: calls,
    storage: storage,
    server: opts.server || function () {
      return reply(404, { code: 'not_found', message: 'no route' });
    },
    modalConfirm: opts.modalConfirm === undefined ? false : opts.modalConfirm,
    loginFails: false,

    request(o) {
      const url = new URL(o.url);
      const req = { method: o.method || 'GET', url: o.url, path: url.pathname + url.search, data: o.data, header: o.header || {} };
      calls.request.push(req);
      // A macrotask per request, as on a device: a runaway retry loop cannot starve jest's timers.
      new Promise(function (resolve) {
        setTimeout(resolve, 0);
      })
        .then(function () {
          return wx.server(req);
        })
        .then(function (res) {
          if (res && res.fail) o.fail && o.fail({ errMsg: 'request:fail ' + res.fail });
          else o.success && o.success(res);
        });
      return { abort() {} };
    },
    login(o) {
      calls.login += 1;
      loginN += 1;
      const n = loginN;
      Promise.resolve().then(function () {
        if (wx.loginFails) o.fail && o.fail({ errMsg: 'login:fail' });
        else o.success && o.success({ code: 'code-' + n, errMsg: 'login:ok' });
      });
    },
    getStorageSync(key) {
      return Object.prototype.hasOwnProperty.call(storage, key) ? JSON.parse(storage[key]) : '';
    },
    setStorageSync(key, value) {
      storage[key] = JSON.stringify(value);
    },
    removeStorageSync(key) {
      delete storage[key];
    },
    showLoading(o) {
      calls.showLoading.push(o);
    },
    hideLoading() {
      calls.hideLoading += 1;
    },
    showModal(o) {
      calls.showModal.push(o);
      const confirm = typeof wx.modalConfirm === 'function' ? wx.modalConfirm(o) : wx.modalConfirm;
      Promise.resolve().then(function () {
        o.success && o.success({ confirm: !!confirm, cancel: !confirm });
      });
    },
    showToast(o) {
      calls.showToast.push(o);
    },
    reLaunch(o) {
      calls.reLaunch.push(o.url);
      o.success && o.success({ errMsg: 'reLaunch:ok' });
    },
    setNavigationBarTitle(o) {
      calls.setNavigationBarTitle.push(o.title);
    },
    stopPullDownRefresh() {
      calls.stopPullDownRefresh += 1;
    },
    getWindowInfo() {
      return { pixelRatio: 2, windowWidth: 375, windowHeight: 667 };
    }
  };
  return wx;
}

/** Lets queued promise callbacks and zero-delay timers run. */
function flush(times) {
  let p = Promise.resolve();
  for (let i = 0; i < (times || 50); i++) {
    p = p.then(function () {
      return new Promise(function (resolve) {
        setTimeout(resolve, 0);
      });
    });
  }
  return p;
}

module.exports = { createFakeWx, reply, flush };
