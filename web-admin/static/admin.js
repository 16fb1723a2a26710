// Kaika admin: small enhancements; every page works without this file.
(function () {
  'use strict';
  function ready(fn) {
    if (document.readyState !== 'loading') { fn(); } else { document.addEventListener('DOMContentLoaded', fn); }
  }
  ready(function () {
    // Live card preview and character counters (the server checks the same limits on submit).
    var form = document.getElementById('card-form');
    if (form) {
      var preview = document.getElementById('card-preview');
      form.querySelectorAll('[data-max]').forEach(function (input) {
        if (input.tagName === 'SPAN') { return; }
        var counter = form.querySelector('.counter[data-for="' + input.id + '"]');
        var update = function () {
          var length = Array.from(input.value).length;
          var max = parseInt(input.getAttribute('data-max'), 10);
          if (counter) {
            counter.textContent = length + '/' + max;
            counter.classList.toggle('over', length > max);
          }
          var target = input.getAttribute('data-preview');
          if (target) {
            var el = document.getElementById(target);
            if (el) { el.textContent = input.value; }
          }
        };
        input.addEventListener('input', update);
      });
      form.querySelectorAll('input[name="color"]').forEach(function (radio) {
        radio.addEventListener('change', function () {
          if (!preview) { return; }
          preview.className = preview.className.replace(/color-Color\d+/, 'color-' + radio.value);
        });
      });
      var logo = document.getElementById('logo');
      if (logo && preview) {
        logo.addEventListener('change', function () {
          var file = logo.files && logo.files[0];
          if (!file) { return; }
          var img = document.getElementById('preview-logo');
          if (!img) {
            img = document.createElement('img');
            img.id = 'preview-logo';
            img.className = 'logo';
            img.alt = 'logo';
            var placeholder = document.getElementById('preview-logo-placeholder');
            if (placeholder) { placeholder.replaceWith(img); }
          }
          img.src = URL.createObjectURL(file);
        });
      }
    }
    // Copy buttons next to values to paste elsewhere (callback URL, Token, paths).
    document.querySelectorAll('code.copyable').forEach(function (code) {
      if (!navigator.clipboard) { return; }
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'copy';
      button.textContent = document.documentElement.lang === 'en' ? 'Copy' : '复制';
      button.addEventListener('click', function () {
        navigator.clipboard.writeText(code.textContent).then(function () {
          button.textContent = '✓';
        });
      });
      code.after(button);
    });
  });
})();
