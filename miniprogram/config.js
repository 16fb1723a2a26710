// The merchant's settings. Edit this file before previewing or publishing (see README.md).
module.exports = {
  // Where Kaika serves /api/v1. In production an https:// address listed among the mini-program's
  // "request 合法域名" in the WeChat admin console; for DevTools, a local `kaika serve` is fine
  // (tick "不校验合法域名" in DevTools' local settings).
  apiBaseUrl: 'http://127.0.0.1:8080',

  // This mini-program's AppID, sent with the login. Needed only when one Kaika server has several
  // mini-programs configured (the server answers `app_id_required` otherwise). Leave '' for one.
  miniAppId: '',

  // The UI language: a file name in i18n/ ('zh-CN' or 'en').
  locale: 'zh-CN',

  // Sandbox only (a local `kaika serve` with no WeChat account): log in as this made-up user through the
  // server's WeChat simulator instead of wx.login, whose real codes the simulator cannot exchange.
  // Must stay '' for anything you upload: a real server has no simulator, so login would fail.
  sandboxUser: '',

  // Request timeout in milliseconds.
  requestTimeoutMs: 15000
};
