// The UI strings: one catalogue file per language in i18n/, chosen by config.locale.
// Pages bind a catalogue section as `t` in their data (e.g. `{{t.open}}`); scripts call text('errors.network').
const config = require('../config.js');
const catalogues = {
  'zh-CN': require('../i18n/zh-CN.js'),
  en: require('../i18n/en.js')
};

function catalogue(locale) {
  return catalogues[locale || config.locale] || catalogues['zh-CN'];
}

/** The strings of one section merged with `common`, for a page's `t`. */
function section(name, locale) {
  const cat = catalogue(locale);
  return Object.assign({}, cat.common, cat[name]);
}

/** One string by dotted path, or undefined when the catalogue has no such key. */
function text(path, locale) {
  const parts = path.split('.');
  let node = catalogue(locale);
  for (let i = 0; i < parts.length; i++) {
    if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, parts[i])) {
      return undefined;
    }
    node = node[parts[i]];
  }
  return typeof node === 'string' ? node : undefined;
}

module.exports = { catalogues, catalogue, section, text };
