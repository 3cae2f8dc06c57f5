/*
 * Start-up checks that must work where ES modules cannot run, so this is a classic script.
 * Browsers refuse to load modules from file:// pages, and a missing main.js would otherwise
 * leave "Loading…" on screen forever.
 */
(function () {
  'use strict';

  var SERVE_HINT =
    'This page must be served over HTTP, because browsers do not run its modules from file://. ' +
    'Run "python -m http.server -d build/site" and open http://localhost:8000/ instead.';

  function show(text) {
    var message = document.getElementById('message');
    var status = document.getElementById('status');
    if (!message) return;
    message.textContent = text;
    message.hidden = false;
    status.textContent = 'Failed, see the message below.';
    document.body.dataset.state = 'error';
  }

  document.addEventListener('DOMContentLoaded', function () {
    if (location.protocol === 'file:') show(SERVE_HINT);
  });

  // Resource errors do not bubble, so listen in the capture phase for a script that fails.
  window.addEventListener(
    'error',
    function (event) {
      var target = event.target;
      if (!(target instanceof HTMLScriptElement) || location.protocol === 'file:') return;
      var text = 'Failed to load the page script ' + target.src + '. Rebuild the site with python -m exporter build.';
      if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', function () { show(text); });
      } else {
        show(text);
      }
    },
    true
  );
})();
